/*
 * corm/model.h — declaring models.
 *
 * A model is declared once, as an X-macro block that lists its columns:
 *
 *     #define USER_FIELDS(COLUMN, RELATION)                                 \
 *         COLUMN(id,       CORM_INTEGER,    CORM_PRIMARY_KEY)               \
 *         COLUMN(username, CORM_STRING(80), CORM_UNIQUE | CORM_NOT_NULL)    \
 *         COLUMN(age,      CORM_INTEGER,    0, CORM_DEFAULT("18"))
 *     CORM_MODEL(User, "user", USER_FIELDS)
 *
 * CORM_MODEL (in a header) makes
 *   - `typedef struct User {...} User;` with one plain C field per column,
 *   - `extern const corm_model User_model[1];` the model's descriptor,
 *   - `extern const corm_column User_username[1];` one typed handle per column,
 *     used in queries: corm_eq(User_username, "marshal").
 * In exactly one .c file, `#define CORM_DEFINE_MODELS` before including the
 * models header turns the same block into the constant descriptors.
 *
 * RELATION(name, KIND [, CORM_CASCADE(...)]) entries in the same block add
 * relationship fields and handles (User_posts); see the relationships
 * section below.
 *
 * A column is COLUMN(name, TYPE, FLAGS [, option ...]): FLAGS is an OR of
 * CORM_PRIMARY_KEY, CORM_UNIQUE, CORM_NOT_NULL, CORM_INDEX, CORM_SENSITIVE
 * (or 0); the options are CORM_DEFAULT("text"), CORM_DEFAULT_FN(fn),
 * CORM_SERVER_DEFAULT("sql"), CORM_CHECK("sql"), CORM_FK(Model, column).
 * Model-level constraints follow the block:
 *     CORM_MODEL(User, "user", USER_FIELDS,
 *                CORM_UNIQUE_TOGETHER("first", "last"), CORM_INDEX_ON("age", "created"))
 *
 * Everything here is data: the descriptors drive DDL, SQL, loading and
 * diffing; no per-model code is generated.
 */
#ifndef CORM_MODEL_H
#define CORM_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* ---- value types of the C fields ------------------------------------ */

/* DATE: a proleptic Gregorian calendar date, year 1..9999. */
typedef struct corm_date { int32_t year; uint8_t month, day; } corm_date;
/* TIME: a time of day with microseconds; no time zone. */
typedef struct corm_time { uint8_t hour, minute, second; uint32_t usec; } corm_time;
/* DATETIME: a naive timestamp; corm never converts it. Store UTC in it. */
typedef struct corm_datetime { corm_date date; corm_time time; } corm_datetime;
/* BLOB: bytes; data == NULL means SQL NULL, len == 0 with data set is empty. */
typedef struct corm_blob { const void *data; size_t len; } corm_blob;
/* NUMERIC(p,s): an exact decimal, value = coef * 10^-scale, up to 38 digits.
 * Read and write it with corm_numeric_parse / corm_numeric_format. */
typedef struct corm_numeric { uint64_t lo; int64_t hi; int32_t scale; } corm_numeric;
/* UUID: 16 bytes, in the order of the text form. Read and write it with
 * corm_uuid_parse / corm_uuid_format; corm_uuid4 makes a random one. */
typedef struct corm_uuid { uint8_t b[16]; } corm_uuid;

/* ---- column types ----------------------------------------------------- */

typedef enum corm_type {
    CORM_TYPE_INTEGER = 1, CORM_TYPE_BIGINT, CORM_TYPE_SMALLINT, CORM_TYPE_BOOLEAN,
    CORM_TYPE_FLOAT, CORM_TYPE_NUMERIC, CORM_TYPE_STRING, CORM_TYPE_TEXT,
    CORM_TYPE_DATE, CORM_TYPE_TIME, CORM_TYPE_DATETIME, CORM_TYPE_BLOB,
    CORM_TYPE_JSON, CORM_TYPE_ENUM, CORM_TYPE_UUID,
    CORM_TYPE_MAX_ /* one past the last valid type */
} corm_type;

/* A type is a triple (KIND, a, b) so that one argument can carry both the
 * C field type and the descriptor's parameters. */
#define CORM_INTEGER        (INTEGER, 0, 0)
#define CORM_BIGINT         (BIGINT, 0, 0)
#define CORM_SMALLINT       (SMALLINT, 0, 0)
#define CORM_BOOLEAN        (BOOLEAN, 0, 0)
#define CORM_FLOAT          (FLOAT, 0, 0)
#define CORM_NUMERIC(p, s)  (NUMERIC, p, s)
#define CORM_STRING(n)      (STRING, n, 0)
#define CORM_TEXT           (TEXT, 0, 0)
#define CORM_DATE           (DATE, 0, 0)
#define CORM_TIME           (TIME, 0, 0)
#define CORM_DATETIME       (DATETIME, 0, 0)
#define CORM_BLOB           (BLOB, 0, 0)
#define CORM_JSON           (JSON, 0, 0)
/* UUID: a corm_uuid field; UUID on PostgreSQL and MariaDB, CHAR(36) text
 * on SQLite. A key of this type is the client's: CORM_DEFAULT_FN(corm_default_uuid4). */
#define CORM_UUID           (UUID, 0, 0)
/* ENUM: `ctype` is the C enum type of the field, `names` a NULL-terminated
 * array of the names stored in the database, indexed by the enum's value. */
#define CORM_ENUM(ctype, names) (ENUM, ctype, names)

#define CORM__CTYPE(k, a, b) CORM__CTYPE_##k(a)
#define CORM__CTYPE_INTEGER(a)  int64_t
#define CORM__CTYPE_BIGINT(a)   int64_t
#define CORM__CTYPE_SMALLINT(a) int16_t
#define CORM__CTYPE_BOOLEAN(a)  bool
#define CORM__CTYPE_FLOAT(a)    double
#define CORM__CTYPE_NUMERIC(a)  corm_numeric
#define CORM__CTYPE_STRING(a)   const char *
#define CORM__CTYPE_TEXT(a)     const char *
#define CORM__CTYPE_DATE(a)     corm_date
#define CORM__CTYPE_TIME(a)     corm_time
#define CORM__CTYPE_DATETIME(a) corm_datetime
#define CORM__CTYPE_BLOB(a)     corm_blob
#define CORM__CTYPE_JSON(a)     const char *
#define CORM__CTYPE_ENUM(a)     a
#define CORM__CTYPE_UUID(a)     corm_uuid

#define CORM__TINIT(k, a, b) .type = CORM_TYPE_##k, CORM__TARGS_##k(a, b)
#define CORM__TARGS_INTEGER(a, b)  .length = 0
#define CORM__TARGS_BIGINT(a, b)   .length = 0
#define CORM__TARGS_SMALLINT(a, b) .length = 0
#define CORM__TARGS_BOOLEAN(a, b)  .length = 0
#define CORM__TARGS_FLOAT(a, b)    .length = 0
#define CORM__TARGS_NUMERIC(a, b)  .precision = (a), .scale = (b)
#define CORM__TARGS_STRING(a, b)   .length = (a)
#define CORM__TARGS_TEXT(a, b)     .length = 0
#define CORM__TARGS_DATE(a, b)     .length = 0
#define CORM__TARGS_TIME(a, b)     .length = 0
#define CORM__TARGS_DATETIME(a, b) .length = 0
#define CORM__TARGS_BLOB(a, b)     .length = 0
#define CORM__TARGS_JSON(a, b)     .length = 0
#define CORM__TARGS_ENUM(a, b)     .enum_names = (b)
#define CORM__TARGS_UUID(a, b)     .length = 0

/* ---- column flags and options ---------------------------------------- */

enum {
    CORM_PRIMARY_KEY = 1 << 0, /* the identity; an INTEGER key autoincrements */
    CORM_UNIQUE      = 1 << 1,
    CORM_NOT_NULL    = 1 << 2,
    CORM_INDEX       = 1 << 3, /* a single-column index */
    CORM_SENSITIVE   = 1 << 4, /* its values are masked in the SQL echo */
    /* Optimistic concurrency (SQLAlchemy's version_id_col): an INTEGER
     * column, one per model, that corm sets to 1 on INSERT and adds one to
     * at every UPDATE; each UPDATE and DELETE of the row requires the
     * version it read (WHERE ... AND version = ?), and a row that another
     * transaction changed or deleted meanwhile fails the flush with
     * CORM_ESTALE. */
    CORM_VERSION     = 1 << 5
};

/* A client default: text parsed as the column's type at registration and
 * copied into every object corm_new makes ("18", "2024-01-01", "hello"). */
#define CORM_DEFAULT(text)       .client_default = (text)
/* A client default computed per object: fn(field) fills the field. */
#define CORM_DEFAULT_FN(fn)      .default_fn = (fn)
/* A server default: SQL text put in the DDL as DEFAULT (...); a new object
 * whose field is left zero takes it, and the inserted value is read back. */
#define CORM_SERVER_DEFAULT(sql) .server_default = (sql)
/* A CHECK constraint on the column, SQL text written by the model's author. */
#define CORM_CHECK(sql)          .check = (sql)
/* A foreign key to Model.column (declared before this model). */
#define CORM_FK(M, col)          .fk = M##_##col
/* What the database does to this row when the referenced row is deleted or
 * its key updated: CORM_FK_RESTRICT, CORM_FK_CASCADE, CORM_FK_SET_NULL,
 * CORM_FK_SET_DEFAULT (default: NO ACTION, which refuses at the statement). */
#define CORM_ON_DELETE(action)   .on_delete = (action)
#define CORM_ON_UPDATE(action)   .on_update = (action)
/* The column's previous name, so that a migration renames instead of
 * dropping and adding. */
#define CORM_OLD_NAME(name)      .old_name = (name)
/* The column's name in the database, when it is not the C field's name (a
 * name with a space, a C keyword, another case): COLUMN(unit_price,
 * CORM_NUMERIC(10, 2), 0, CORM_NAME("unit price")). SQL, filter_by,
 * constraints by name and error messages use it. */
#define CORM_NAME(sql)           .name = (sql)
/* The column's type in the database, written verbatim instead of the one
 * corm chooses for the column's type on each backend ("integer" where corm
 * would write BIGINT, "inet"): for tables corm did not create (`db
 * inspect` writes it where no corm type matches). The C field keeps the
 * corm type; values go through it. The text is the database's own, so a
 * model with it is tied to that database. */
#define CORM_SQL_TYPE(sql)       .sql_type = (sql)

typedef struct corm_model corm_model;

typedef enum corm_fk_action {
    CORM_FK_NO_ACTION = 0, CORM_FK_RESTRICT, CORM_FK_CASCADE, CORM_FK_SET_NULL, CORM_FK_SET_DEFAULT
} corm_fk_action;

/* ---- relationships --------------------------------------------------------
 * RELATION(name, KIND [, CORM_CASCADE(flags)]) in a model block:
 *   CORM_MANY_TO_ONE(Target, fk_column, back)  a `struct Target *` field set
 *       from this model's foreign key column (back: the inverse relation on
 *       Target, or empty);
 *   CORM_ONE_TO_MANY(Target, back)  a CORM_MANY(struct Target) field: the
 *       Target rows whose `back` many-to-one points here;
 *   CORM_ONE_TO_ONE(Target, back)   a `struct Target *` field: the one Target
 *       row whose `back` many-to-one points here;
 *   CORM_MANY_TO_MANY(Target, Assoc, back)  a CORM_MANY(struct Target) field
 *       through the association model Assoc, which has one foreign key to
 *       this model and one to Target (back: the inverse on Target, or empty). */
#define CORM_MANY_TO_ONE(T, fk, back) (MANY_TO_ONE, T, fk, back)
#define CORM_ONE_TO_MANY(T, back)     (ONE_TO_MANY, T, back, _)
#define CORM_ONE_TO_ONE(T, back)      (ONE_TO_ONE, T, back, _)
#define CORM_MANY_TO_MANY(T, assoc, back) (MANY_TO_MANY, T, assoc, back)
/* A to-many field: a counted array of object pointers owned by the session. */
#define CORM_MANY(T) struct { T **items; size_t n, cap; }

typedef enum corm_rel_kind {
    CORM_REL_MANY_TO_ONE = 1, CORM_REL_ONE_TO_MANY, CORM_REL_ONE_TO_ONE, CORM_REL_MANY_TO_MANY
} corm_rel_kind;

enum {
    CORM_CASCADE_DELETE  = 1 << 0, /* deleting the parent deletes these children */
    CORM_DELETE_ORPHAN   = 1 << 1, /* a child removed from the parent is deleted */
    /* With CORM_CASCADE_DELETE on a one-to-many or one-to-one: children not
     * loaded are left to the database, whose foreign key must say
     * CORM_ON_DELETE(CORM_FK_CASCADE) (checked when the engine opens):
     * deleting the parent runs one DELETE, not a SELECT of its children and
     * a DELETE each (SQLAlchemy's passive_deletes). Children the session
     * has loaded into the collection are deleted by corm as before; others
     * it holds are not told that their rows went. */
    CORM_PASSIVE_DELETES = 1 << 2
};
/* The cascades of a RELATION entry: CORM_CASCADE(CORM_CASCADE_DELETE |
 * CORM_DELETE_ORPHAN), the flags above or'ed together (the save-update
 * cascade is always on). */
#define CORM_CASCADE(flags) .cascade = (flags)

/* A relationship's descriptor; its address is the relationship's handle. */
typedef struct corm_relation {
    const char *name;
    const corm_model *model;
    corm_rel_kind kind;
    const corm_model *target;
    const struct corm_column *fk; /* MANY_TO_ONE: this model's foreign key column */
    const char *back;             /* the inverse relation's name on target, or "" */
    const corm_model *through;    /* MANY_TO_MANY: the association model */
    size_t offset;
    int index;
    unsigned cascade;
} corm_relation;

/* A column's descriptor; its address is the column's handle. */
typedef struct corm_column {
    const char *name;
    const corm_model *model;
    corm_type type;
    unsigned flags;
    int length;                  /* STRING(n): n characters */
    int precision, scale;        /* NUMERIC(p,s) */
    const char *const *enum_names;
    size_t offset, size;         /* of the field in the struct */
    const char *client_default;
    void (*default_fn)(void *field);
    const char *server_default;
    const char *check;
    const struct corm_column *fk;
    corm_fk_action on_delete, on_update;
    const char *old_name;
    const char *sql_type;        /* CORM_SQL_TYPE, or NULL */
    int index;                   /* position in the model */
} corm_column;

typedef enum corm_constraint_kind {
    CORM_C_UNIQUE = 1, CORM_C_INDEX, CORM_C_FOREIGN_KEY
} corm_constraint_kind;

/* A model-level constraint over several columns, named by column name. */
typedef struct corm_constraint {
    corm_constraint_kind kind;
    const char *const *columns;      /* NULL-terminated */
    const corm_model *ref;           /* CORM_C_FOREIGN_KEY: the referenced model */
    const char *const *ref_columns;  /* ... and its columns, a unique set of it */
} corm_constraint;

/* Model-level constraints, after the FIELDS of CORM_MODEL:
 * CORM_UNIQUE_TOGETHER("first", "last") makes the columns unique together
 * (SQLAlchemy's UniqueConstraint), CORM_INDEX_ON("age", "created") indexes
 * them together; columns by name, checked when the engine opens. */
#define CORM_UNIQUE_TOGETHER(...) { CORM_C_UNIQUE, (const char *const[]){ __VA_ARGS__, NULL }, NULL, NULL }
#define CORM_INDEX_ON(...)        { CORM_C_INDEX,  (const char *const[]){ __VA_ARGS__, NULL }, NULL, NULL }
/* A composite foreign key: CORM_FOREIGN_KEY(("a", "b"), Target, ("x", "y")),
 * where Target (declared before) has CORM_UNIQUE_TOGETHER("x", "y"). */
#define CORM_FOREIGN_KEY(cols, T, refs)                                      \
    { CORM_C_FOREIGN_KEY, (const char *const[]){ CORM__UNPAREN cols, NULL }, \
      T##_model, (const char *const[]){ CORM__UNPAREN refs, NULL } }

struct corm_model {
    const char *name;            /* the C name, "User" */
    const char *table;           /* the table, "user" */
    size_t size;                 /* sizeof the struct */
    const corm_column *const *columns;
    size_t ncolumns;
    const corm_constraint *constraints;
    size_t nconstraints;
    const corm_relation *const *relations; /* NULL-terminated */
    size_t nrelations;
};

/* ---- the expansion ----------------------------------------------------
 *
 * FIELDS(COLUMN, RELATION) is expanded into a list of tuples
 * ", (name, type, flags, options...)", which a FOREACH that carries the model
 * name and the column's index walks once per artefact (struct fields, handle
 * declarations, descriptors). Up to 64 columns a model. */

#define CORM__CAT(a, b) CORM__CAT_(a, b)
#define CORM__CAT_(a, b) a##b
#define CORM__UNPAREN(...) __VA_ARGS__
#define CORM__CALL(f, ...) f(__VA_ARGS__)
#define CORM__CALL2(f, ...) f(__VA_ARGS__) /* for use inside a CORM__CALL */
#define CORM__SKIP(...)
#define CORM__ITEM(name, type, ...) , (name, type, __VA_ARGS__)
#define CORM__RITEM(name, kind, ...) , (R, name, kind, __VA_ARGS__)

/* Columns: FIELDS with RELATION(...) skipped. */
#define CORM__EACH(OP, M, FIELDS) \
    CORM__EACH_(OP, M FIELDS(CORM__ITEM, CORM__SKIP))
/* Relations: COLUMN(...) skipped; a last item E keeps the list non-empty. */
#define CORM__EACH_REL(OP, M, FIELDS) \
    CORM__EACH_(OP, M FIELDS(CORM__SKIP, CORM__RITEM) , (E, _, _, _))
#define CORM__EACH_(OP, ...) CORM__EACH__(OP, __VA_ARGS__)
#define CORM__EACH__(OP, M, ...) \
    CORM__CAT(CORM__FE_, CORM__NARGS(__VA_ARGS__))(OP, M, 0, __VA_ARGS__)

/* Misuse of COLUMN and RELATION is caught where the struct is declared, by
 * a _Static_assert whose sentence names the model and the field, instead of
 * the screen of expansion errors a malformed argument would give:
 *   - a TYPE that is not one of the CORM_ types above (CORM_INTEGR, INTEGER,
 *     CORM_STRING without its length): every type is a parenthesised
 *     triple, which CORM__IS_PAREN tells from anything else;
 *   - FLAGS left out (COLUMN(age, CORM_INTEGER)), or an option such as
 *     CORM_DEFAULT written where FLAGS go, or a bit that is not a flag;
 *   - a RELATION kind that is not one of the CORM_ kinds below.
 * A malformed field still becomes a plain int (or nothing), so that the
 * sentence is the only error. */
#define CORM__IS_PAREN(x) CORM__SECOND(CORM__PAREN_PROBE x, 0, ~)
#define CORM__PAREN_PROBE(...) ~, 1
#define CORM__SECOND(...) CORM__SECOND_(__VA_ARGS__)
#define CORM__SECOND_(a, b, ...) b
/* Whether FLAGS were left out (an empty argument), and FLAGS as an
 * expression that is 0 then */
#define CORM__IS_EMPTY(f) CORM__CAT(CORM__IS_EMPTY_, CORM__IS_PAREN(f))(f)
#define CORM__IS_EMPTY_1(f) 0
#define CORM__IS_EMPTY_0(f) CORM__IS_PAREN(f ())
#define CORM__FLAGS(f) CORM__CAT(CORM__FLAGS_, CORM__IS_EMPTY(f))(f)
#define CORM__FLAGS_1(f) 0
#define CORM__FLAGS_0(f) (f)
#define CORM__ALL_FLAGS (CORM_PRIMARY_KEY | CORM_UNIQUE | CORM_NOT_NULL | CORM_INDEX | \
                         CORM_SENSITIVE | CORM_VERSION)

#define CORM__OP_FIELD(M, i, x) CORM__CALL(CORM__FIELD1, M, i, CORM__UNPAREN x)
#define CORM__FIELD1(M, i, name, type, ...)                                    \
    CORM__CAT(CORM__FIELD_T, CORM__IS_PAREN(type))(M, name, type)              \
    CORM__CHECK_FLAGS(M, name, __VA_ARGS__, )
#define CORM__FIELD_T1(M, name, type) CORM__CTYPE type name;
#define CORM__FIELD_T0(M, name, type) int name;                               \
    _Static_assert(0, "corm: model " #M ", column " #name ": " #type " is not a " \
                   "column type; write one of CORM_INTEGER, CORM_BIGINT, CORM_SMALLINT, " \
                   "CORM_BOOLEAN, CORM_FLOAT, CORM_NUMERIC(p, s), CORM_STRING(n), "      \
                   "CORM_TEXT, CORM_DATE, CORM_TIME, CORM_DATETIME, CORM_BLOB, "         \
                   "CORM_JSON, CORM_ENUM(ctype, names), CORM_UUID");
#define CORM__CHECK_FLAGS(M, name, flags_, ...)                                \
    _Static_assert(!CORM__IS_EMPTY(flags_), "corm: model " #M ", column " #name     \
                   ": FLAGS are missing; write COLUMN(name, TYPE, FLAGS [, option ...]) " \
                   "with FLAGS 0 or an OR of CORM_PRIMARY_KEY, CORM_UNIQUE, "    \
                   "CORM_NOT_NULL, CORM_INDEX, CORM_SENSITIVE, CORM_VERSION");   \
    _Static_assert((CORM__FLAGS(flags_) & ~CORM__ALL_FLAGS) == 0, "corm: model " #M \
                   ", column " #name ": FLAGS " #flags_ " has a bit that is not a " \
                   "column flag; FLAGS are 0 or an OR of CORM_PRIMARY_KEY, "     \
                   "CORM_UNIQUE, CORM_NOT_NULL, CORM_INDEX, CORM_SENSITIVE, "    \
                   "CORM_VERSION (options such as CORM_DEFAULT come after them)");

#define CORM__OP_DECL(M, i, x) CORM__CALL(CORM__DECL1, M, i, CORM__UNPAREN x)
#define CORM__DECL1(M, i, name, ...) extern const corm_column M##_##name[1];

#define CORM__OP_DEF(M, i, x) CORM__CALL(CORM__DEF1, M, i, CORM__UNPAREN x)
#define CORM__DEF1(M, i, n_, t_, flags_, ...)                                \
    const corm_column M##_##n_[1] = {{                                          \
        .name = #n_, .model = M##_model,                                        \
        CORM__CAT(CORM__TINIT_, CORM__IS_PAREN(t_))(t_),                        \
        .offset = offsetof(M, n_), .size = sizeof(((M *)0)->n_),                \
        .flags = CORM__FLAGS(flags_), .index = (i), __VA_ARGS__ }};
#define CORM__TINIT_1(t_) CORM__TINIT t_
#define CORM__TINIT_0(t_) .type = CORM_TYPE_MAX_ /* the struct's assertion failed */

#define CORM__OP_PTR(M, i, x) CORM__CALL(CORM__PTR1, M, i, CORM__UNPAREN x)
#define CORM__PTR1(M, i, name, ...) M##_##name,

#define CORM__OP_COUNT(M, i, x) + 1

/* Relation items are (R, name, (KIND, Target, a, b), options...); the
 * closing item is (E, ...). */
#define CORM__ROP(OP, M, i, x) CORM__CALL(CORM__RDISPATCH, OP, M, i, CORM__UNPAREN x)
#define CORM__RDISPATCH(OP, M, i, tag, ...) CORM__CAT(OP, tag)(M, i, __VA_ARGS__)

#define CORM__RFIELD(M, i, x) CORM__ROP(CORM__RFIELD_, M, i, x)
#define CORM__RFIELD_E(...)
#define CORM__RFIELD_R(M, i, n_, k_, ...) \
    CORM__CAT(CORM__RFIELD_K, CORM__IS_PAREN(k_))(M, n_, k_)
#define CORM__RFIELD_K1(M, n_, k_) CORM__RCTYPE k_ n_;
#define CORM__RFIELD_K0(M, n_, k_)                                             \
    _Static_assert(0, "corm: model " #M ", relation " #n_ ": " #k_ " is not a " \
                   "relationship kind; write one of CORM_MANY_TO_ONE(Target, fk_column, back), " \
                   "CORM_ONE_TO_MANY(Target, back), CORM_ONE_TO_ONE(Target, back), " \
                   "CORM_MANY_TO_MANY(Target, Assoc, back)");
#define CORM__RCTYPE(k, T, a, b) CORM__RCTYPE_##k(T)
#define CORM__RCTYPE_MANY_TO_ONE(T) struct T *
#define CORM__RCTYPE_ONE_TO_ONE(T)  struct T *
#define CORM__RCTYPE_ONE_TO_MANY(T) CORM_MANY(struct T)
#define CORM__RCTYPE_MANY_TO_MANY(T) CORM_MANY(struct T)

#define CORM__RDECL(M, i, x) CORM__ROP(CORM__RDECL_, M, i, x)
#define CORM__RDECL_E(...)
#define CORM__RDECL_R(M, i, n_, ...) extern const corm_relation M##_##n_[1];

#define CORM__RDEF(M, i, x) CORM__ROP(CORM__RDEF_, M, i, x)
#define CORM__RDEF_E(...)
#define CORM__RDEF_R(M, i, n_, k_, ...) \
    CORM__CAT(CORM__RDEF_K, CORM__IS_PAREN(k_))(M, i, n_, k_, __VA_ARGS__)
#define CORM__RDEF_K0(...) /* the struct's assertion failed */
#define CORM__RDEF_K1(M, i, n_, k_, ...)                                      \
    CORM__CALL2(CORM__RTARGET, CORM__UNPAREN k_)                               \
    const corm_relation M##_##n_[1] = {{                                       \
        .name = #n_, .model = M##_model, CORM__CALL2(CORM__RINIT, M, CORM__UNPAREN k_), \
        .offset = offsetof(M, n_), .index = (i), __VA_ARGS__ }};
/* the target may be declared after this model: declare its descriptor here */
#define CORM__RTARGET(k, T, a, b) extern const corm_model T##_model[1]; CORM__RTHROUGH_##k(a)
#define CORM__RTHROUGH_MANY_TO_ONE(a)
#define CORM__RTHROUGH_ONE_TO_MANY(a)
#define CORM__RTHROUGH_ONE_TO_ONE(a)
#define CORM__RTHROUGH_MANY_TO_MANY(a) extern const corm_model a##_model[1];
#define CORM__RINIT(M, k, T, a, b) \
    .kind = CORM_REL_##k, .target = T##_model, CORM__RARGS_##k(M, T, a, b)
#define CORM__RARGS_MANY_TO_ONE(M, T, fk_, back_) .fk = M##_##fk_, .back = #back_
#define CORM__RARGS_ONE_TO_ONE(M, T, back_, b) .back = #back_
#define CORM__RARGS_ONE_TO_MANY(M, T, back_, b) .back = #back_
#define CORM__RARGS_MANY_TO_MANY(M, T, assoc, back_) .through = assoc##_model, .back = #back_

#define CORM__RPTR(M, i, x) CORM__ROP(CORM__RPTR_, M, i, x)
#define CORM__RPTR_E(...)
#define CORM__RPTR_R(M, i, n_, ...) M##_##n_,

#define CORM__RCOUNT(M, i, x) CORM__ROP(CORM__RCOUNT_, M, i, x)
#define CORM__RCOUNT_E(...)
#define CORM__RCOUNT_R(...) + 1

/* CORM_MODEL(M, "table", FIELDS [, CORM_UNIQUE_TOGETHER(...) | CORM_INDEX_ON(...) ...]) */
#define CORM_MODEL(M, table_, ...)                                            \
    CORM__MODEL(M, table_, __VA_ARGS__, CORM__NO_CONSTRAINT)
#define CORM__NO_CONSTRAINT { 0, 0, 0, 0 }
#define CORM__MODEL(M, table_, FIELDS, ...)                                   \
    typedef struct M {                                                         \
        CORM__EACH(CORM__OP_FIELD, M, FIELDS)                                  \
        CORM__EACH_REL(CORM__RFIELD, M, FIELDS) } M;                           \
    extern const corm_model M##_model[1];                                      \
    CORM__EACH(CORM__OP_DECL, M, FIELDS)                                       \
    CORM__EACH_REL(CORM__RDECL, M, FIELDS)                                     \
    CORM__DEFINE_MODEL(M, table_, FIELDS, __VA_ARGS__)

#define CORM__DEFINE_MODEL(M, table_, FIELDS, ...) \
    CORM__CAT(CORM__DEFINE_, CORM_DEFINE_MODELS)(M, table_, FIELDS, __VA_ARGS__)
/* CORM_DEFINE_MODELS undefined: declarations only; defined (empty or 1): define. */
#define CORM__DEFINE_CORM_DEFINE_MODELS(...)
#define CORM__DEFINE_(...) CORM__DEFINE_1(__VA_ARGS__)
#define CORM__DEFINE_1(M, table_, FIELDS, ...)                                \
    CORM__OVERRIDE_BEGIN CORM__EACH(CORM__OP_DEF, M, FIELDS) CORM__OVERRIDE_END \
    static const corm_column *const M##__columns[] = {                         \
        CORM__EACH(CORM__OP_PTR, M, FIELDS) };                                 \
    static const corm_constraint M##__constraints[] = { __VA_ARGS__ };         \
    CORM__EACH_REL(CORM__RDEF, M, FIELDS)                                      \
    static const corm_relation *const M##__relations[] = {                     \
        CORM__EACH_REL(CORM__RPTR, M, FIELDS) NULL };                          \
    const corm_model M##_model[1] = {{                                         \
        .name = #M, .table = (table_), .size = sizeof(M),                      \
        .columns = M##__columns,                                               \
        .ncolumns = 0 CORM__EACH(CORM__OP_COUNT, M, FIELDS),                   \
        .constraints = M##__constraints,                                       \
        .nconstraints = sizeof(M##__constraints) / sizeof(corm_constraint) - 1, \
        .relations = M##__relations,                                           \
        .nrelations = 0 CORM__EACH_REL(CORM__RCOUNT, M, FIELDS) }};

/* CORM_NAME sets .name again after the default (the field's name): C says
 * the last initializer wins; -Wextra's -Woverride-init is quiet for it. */
#define CORM__OVERRIDE_BEGIN \
    _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Woverride-init\"")
#define CORM__OVERRIDE_END _Pragma("GCC diagnostic pop")

/* `#define CORM_DEFINE_MODELS` before including the models' header, in one
 * .c file, makes CORM_MODEL define the descriptors there; it is looked at
 * where CORM_MODEL expands, so the order of includes does not matter. */

/* ---- generated: a FOREACH with data and index, up to 64 items ---- */
#define CORM__NARGS(...) CORM__NARGS_(__VA_ARGS__, 64, 63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define CORM__NARGS_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, _17, _18, _19, _20, _21, _22, _23, _24, _25, _26, _27, _28, _29, _30, _31, _32, _33, _34, _35, _36, _37, _38, _39, _40, _41, _42, _43, _44, _45, _46, _47, _48, _49, _50, _51, _52, _53, _54, _55, _56, _57, _58, _59, _60, _61, _62, _63, _64, N, ...) N
#define CORM__FE_1(OP, M, i, x) OP(M, i, x)
#define CORM__FE_2(OP, M, i, x, ...) OP(M, i, x) CORM__FE_1(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_3(OP, M, i, x, ...) OP(M, i, x) CORM__FE_2(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_4(OP, M, i, x, ...) OP(M, i, x) CORM__FE_3(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_5(OP, M, i, x, ...) OP(M, i, x) CORM__FE_4(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_6(OP, M, i, x, ...) OP(M, i, x) CORM__FE_5(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_7(OP, M, i, x, ...) OP(M, i, x) CORM__FE_6(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_8(OP, M, i, x, ...) OP(M, i, x) CORM__FE_7(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_9(OP, M, i, x, ...) OP(M, i, x) CORM__FE_8(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_10(OP, M, i, x, ...) OP(M, i, x) CORM__FE_9(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_11(OP, M, i, x, ...) OP(M, i, x) CORM__FE_10(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_12(OP, M, i, x, ...) OP(M, i, x) CORM__FE_11(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_13(OP, M, i, x, ...) OP(M, i, x) CORM__FE_12(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_14(OP, M, i, x, ...) OP(M, i, x) CORM__FE_13(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_15(OP, M, i, x, ...) OP(M, i, x) CORM__FE_14(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_16(OP, M, i, x, ...) OP(M, i, x) CORM__FE_15(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_17(OP, M, i, x, ...) OP(M, i, x) CORM__FE_16(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_18(OP, M, i, x, ...) OP(M, i, x) CORM__FE_17(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_19(OP, M, i, x, ...) OP(M, i, x) CORM__FE_18(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_20(OP, M, i, x, ...) OP(M, i, x) CORM__FE_19(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_21(OP, M, i, x, ...) OP(M, i, x) CORM__FE_20(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_22(OP, M, i, x, ...) OP(M, i, x) CORM__FE_21(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_23(OP, M, i, x, ...) OP(M, i, x) CORM__FE_22(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_24(OP, M, i, x, ...) OP(M, i, x) CORM__FE_23(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_25(OP, M, i, x, ...) OP(M, i, x) CORM__FE_24(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_26(OP, M, i, x, ...) OP(M, i, x) CORM__FE_25(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_27(OP, M, i, x, ...) OP(M, i, x) CORM__FE_26(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_28(OP, M, i, x, ...) OP(M, i, x) CORM__FE_27(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_29(OP, M, i, x, ...) OP(M, i, x) CORM__FE_28(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_30(OP, M, i, x, ...) OP(M, i, x) CORM__FE_29(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_31(OP, M, i, x, ...) OP(M, i, x) CORM__FE_30(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_32(OP, M, i, x, ...) OP(M, i, x) CORM__FE_31(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_33(OP, M, i, x, ...) OP(M, i, x) CORM__FE_32(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_34(OP, M, i, x, ...) OP(M, i, x) CORM__FE_33(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_35(OP, M, i, x, ...) OP(M, i, x) CORM__FE_34(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_36(OP, M, i, x, ...) OP(M, i, x) CORM__FE_35(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_37(OP, M, i, x, ...) OP(M, i, x) CORM__FE_36(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_38(OP, M, i, x, ...) OP(M, i, x) CORM__FE_37(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_39(OP, M, i, x, ...) OP(M, i, x) CORM__FE_38(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_40(OP, M, i, x, ...) OP(M, i, x) CORM__FE_39(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_41(OP, M, i, x, ...) OP(M, i, x) CORM__FE_40(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_42(OP, M, i, x, ...) OP(M, i, x) CORM__FE_41(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_43(OP, M, i, x, ...) OP(M, i, x) CORM__FE_42(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_44(OP, M, i, x, ...) OP(M, i, x) CORM__FE_43(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_45(OP, M, i, x, ...) OP(M, i, x) CORM__FE_44(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_46(OP, M, i, x, ...) OP(M, i, x) CORM__FE_45(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_47(OP, M, i, x, ...) OP(M, i, x) CORM__FE_46(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_48(OP, M, i, x, ...) OP(M, i, x) CORM__FE_47(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_49(OP, M, i, x, ...) OP(M, i, x) CORM__FE_48(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_50(OP, M, i, x, ...) OP(M, i, x) CORM__FE_49(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_51(OP, M, i, x, ...) OP(M, i, x) CORM__FE_50(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_52(OP, M, i, x, ...) OP(M, i, x) CORM__FE_51(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_53(OP, M, i, x, ...) OP(M, i, x) CORM__FE_52(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_54(OP, M, i, x, ...) OP(M, i, x) CORM__FE_53(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_55(OP, M, i, x, ...) OP(M, i, x) CORM__FE_54(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_56(OP, M, i, x, ...) OP(M, i, x) CORM__FE_55(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_57(OP, M, i, x, ...) OP(M, i, x) CORM__FE_56(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_58(OP, M, i, x, ...) OP(M, i, x) CORM__FE_57(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_59(OP, M, i, x, ...) OP(M, i, x) CORM__FE_58(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_60(OP, M, i, x, ...) OP(M, i, x) CORM__FE_59(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_61(OP, M, i, x, ...) OP(M, i, x) CORM__FE_60(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_62(OP, M, i, x, ...) OP(M, i, x) CORM__FE_61(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_63(OP, M, i, x, ...) OP(M, i, x) CORM__FE_62(OP, M, i + 1, __VA_ARGS__)
#define CORM__FE_64(OP, M, i, x, ...) OP(M, i, x) CORM__FE_63(OP, M, i + 1, __VA_ARGS__)

#endif /* CORM_MODEL_H */
