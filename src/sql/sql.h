/*
 * sql.h — the SQL layer: connections with a statement cache, bound
 * parameters, expression trees and their compilation to SQL text.
 *
 * Everything that turns a C value into something a database binds, or a
 * database's column back into a C field, is here (value.c), so that reads,
 * writes and filters agree on one conversion per type. Identifiers always
 * come from descriptors and are quoted; values are always parameters.
 */
#ifndef CORM_SQL_H
#define CORM_SQL_H

#include "corm/corm.h"
#include "driver/driver.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/error.h"

/* ---- parameters ---------------------------------------------------------- */

/* A value ready to bind: kind is one of the wire kinds (NULL, INT, FLOAT,
 * TEXT, BLOB). Formatted text (dates, decimals, enum names) lives in buf. */
typedef struct sql_param {
    corm_value v;
    bool sensitive;
    bool inbuf;
    char buf[48];
} sql_param;

typedef struct sql_params {
    sql_param *p;
    size_t n, cap;
} sql_params;

/* A new slot at the end, or NULL when out of memory. */
sql_param *sql_params_push(sql_params *ps);
void sql_params_free(sql_params *ps);

/* Convert v for column col (NULL: no column, pass the kind through) into p.
 * for_write adds the checks made before a value is stored: length of
 * STRING(n), JSON validity. Errors name col's model, column and the value:
 * CORM_ETYPE, CORM_ERANGE, CORM_EDATE, CORM_EENUM, CORM_ETOOLONG, CORM_EJSON,
 * CORM_ENOTNULL (a NULL for a NOT NULL column, when for_write). */
int sql_param_set(sql_param *p, const corm_column *col, const corm_value *v, bool for_write,
                  util_err *err);
/* The value of field (of column col); is_null says the NULL flag is set. */
corm_value sql_value_at(const corm_column *col, const void *field, bool is_null);
/* Whether field differs from other, both of column col (strings by content). */
bool sql_differs_at(const corm_column *col, const void *field, const void *other);
/* The same for obj's field for col (and the snapshot's). */
static inline corm_value sql_field_value(const corm_column *col, const void *obj, bool is_null)
{
    return sql_value_at(col, (const char *)obj + col->offset, is_null);
}
static inline bool sql_field_differs(const corm_column *col, const void *obj, const void *snap)
{
    return sql_differs_at(col, (const char *)obj + col->offset, (const char *)snap + col->offset);
}
/* Store the current row's column i into obj's field for col; strings and
 * blobs are copied into arena a. Sets or clears col's NULL bit in nulls
 * (NULL: the column has no flag; a NULL reads as the zero value). */
int sql_field_load(const drv_driver *d, drv_stmt *st, int i, const corm_column *col, void *obj,
                   uint64_t *nulls, util_arena *a, util_err *err);
/* How sql_row_load reads a column into its field, decided once per model
 * from the column's type and flags (sch_mapper.load) rather than for each
 * column of each row: the common kinds without sql_field_load's questions. */
enum sql_load {
    SQL_LOAD_FIELD,         /* sql_field_load, the column without a NULL flag */
    SQL_LOAD_FIELD_FLAGGED, /* sql_field_load, with its NULL flag */
    SQL_LOAD_INT64,         /* a NOT NULL (or key) int64_t */
    SQL_LOAD_TEXT,          /* a NOT NULL (or key) string: copied into the arena */
    SQL_LOAD_TEXT_NULL,     /* a string that may be NULL (a NULL pointer) */
    SQL_LOAD_DATETIME,      /* a NOT NULL DATETIME */
};
uint8_t sql_load_of(const corm_column *col);
/* The current row's columns into obj, each as sql_field_load would: column
 * k as cols[k] (NULL: skipped), read the way how[k] says (how NULL: asked
 * of sql_load_of), but column skip (-1: none); nulls: obj's NULL flags. */
int sql_row_load(const drv_driver *d, drv_stmt *st, const corm_column *const *cols,
                 const uint8_t *how, size_t n, int skip, void *obj, uint64_t *nulls, util_arena *a,
                 util_err *err);
/* The current row's column i as a value (text and blobs copied into a). */
int sql_column_value(const drv_driver *d, drv_stmt *st, int i, corm_value *out, util_arena *a);
/* Convert a wire value read back for col into the column's kind (a date's
 * text into CORM_V_DATE...). */
int sql_value_typed(const corm_column *col, corm_value *v, util_err *err);

/* ---- connections ------------------------------------------------------------ */

typedef struct sql_echo {
    corm_echo_fn fn;
    void *ud;
} sql_echo;

typedef struct sql_cached sql_cached;

typedef struct sql_conn {
    const drv_driver *drv;
    drv_conn *dc;
    sql_cached *cache;       /* open-addressed: SQL text -> prepared statement */
    size_t ncache, capcache;
    const sql_echo *echo;
    int depth;               /* 0: no transaction; 1: one; n: n-1 savepoints */
    bool broken;             /* not to be used again (a ROLLBACK failed) */
} sql_conn;

int sql_conn_open(sql_conn **out, const drv_driver *d, const drv_url *url, const sql_echo *echo,
                  util_err *err);
void sql_conn_close(sql_conn *c);
/* SQL text with its hash computed once, for statements run again and
 * again (a model's INSERT, its get-by-key). */
typedef struct sql_text {
    char *p;
    size_t len;
    uint64_t hash;
} sql_text;

uint64_t sql_hash(const char *sql, size_t len);
/* A prepared statement for sql (cached on the connection, reset), with ps
 * bound to it; echoes the statement. */
int sql_run(sql_conn *c, const char *sql, size_t len, const sql_params *ps, drv_stmt **out,
            util_err *err);
int sql_run_text(sql_conn *c, const sql_text *t, const sql_params *ps, drv_stmt **out,
                 util_err *err);
/* CORM_EABORTED (or CORM_ECONNLOST) with a sentence when c holds a
 * transaction open that the database has ended or will take no more
 * statements in (drv_driver.txn_failed): an error rolled it back, and a
 * statement run now would run outside it, or be refused. Statements,
 * COMMIT and savepoints ask it first; a rollback does not, so that one
 * always ends the transaction. This is what keeps a transaction whole when
 * a failed statement ended it: SQLite rolls back all of it on out-of-memory
 * or an I/O error, MariaDB on a deadlock, and PostgreSQL answers a COMMIT
 * after any failed statement by rolling back, without an error. */
static inline int sql_txn_check(sql_conn *c, util_err *err)
{
    int sql_txn_refuse(sql_conn *c, util_err *err); /* the error, out of line */
    const drv_driver *d = c->drv;
    return c->depth && d->txn_failed && d->txn_failed(c->dc) ? sql_txn_refuse(c, err) : CORM_OK;
}
/* Tell the driver that st's rows will be read to the last (or dropped)
 * before anything else runs on c (drv_driver.read_all); st may be NULL. */
void sql_read_all(sql_conn *c, drv_stmt *st);
/* Run a statement with no result rows (echoed). */
int sql_exec(sql_conn *c, const char *sql, util_err *err);
/* CORM_EUNSUPPORTED when the server cannot carry this DDL statement (a
 * Galera cluster: drv_driver.refuses_ddl); nothing runs. */
int sql_refuses_ddl(sql_conn *c, const char *sql, util_err *err);
/* Run a statement that returns no rows, through the cache, with parameters. */
int sql_exec_params(sql_conn *c, const char *sql, size_t len, const sql_params *ps, util_err *err);
/* Begin a transaction that is to write (drv_driver.begin_write: SQLite
 * takes its write lock at once), or one that reads first (a plain BEGIN:
 * SQLite's deferred transaction, one snapshot for its reads, taking the
 * write lock at its first write). Either sets depth to 1. */
int sql_begin(sql_conn *c, util_err *err);
int sql_begin_read(sql_conn *c, util_err *err);
int sql_commit(sql_conn *c, util_err *err);
/* ROLLBACK; one that fails marks c broken (its transaction may still be
 * open: the pool closes it rather than hand it out again). */
int sql_rollback(sql_conn *c, util_err *err);
int sql_savepoint(sql_conn *c, util_err *err);
int sql_release(sql_conn *c, util_err *err);
int sql_rollback_to(sql_conn *c, util_err *err);

/* ---- expressions -------------------------------------------------------------- */

typedef enum sql_ex_kind {
    EX_COL = 1, EX_CMP, EX_IN, EX_LIKE, EX_NULL, EX_BETWEEN, EX_AND, EX_OR, EX_NOT, EX_FN, EX_SORT,
    EX_ARITH,  /* kid <op> value: corm_arith */
    /* left to the caller's hook: they need the schema */
    EX_REL,    /* EXISTS along relationship `rel` (kid: a condition, optional) */
    EX_SUBQ    /* kid IN (a query's SELECT): `sub` */
} sql_ex_kind;

/* A model's table under another name in one query (corm_alias). */
struct corm_alias {
    const corm_model *model;
    const void *owner;        /* the query that made it */
    bool joined;              /* a join has brought it in */
    char name[12];            /* "corm_a1" */
};

struct corm_expr {
    sql_ex_kind kind;
    int op;                   /* corm_op, corm_fn, or a flag: negate, icase, desc */
    const corm_column *col;   /* EX_COL */
    const corm_alias *alias;  /* EX_COL: the column of this alias (NULL: of its table) */
    const corm_relation *rel; /* EX_REL */
    corm_query *sub;          /* EX_SUBQ: owned by its session, not by the node */
    corm_expr **kids;
    size_t nkids;
    corm_value *vals;         /* values bound by this node; text copied */
    size_t nvals;
    int err;                  /* a constructor's failure, reported when compiled */
};

/* The column a value compared with e is converted for: e's column, the
 * argument's of SUM/MIN/MAX, or the column arithmetic starts from; NULL
 * otherwise. */
const corm_column *sql_expr_column(const corm_expr *e);
/* Check that every column of e belongs to one of the n models in scope
 * (an EXISTS adds its relationship's target for its condition), or to one
 * of the na joined aliases: CORM_EINVAL naming the column and the query's
 * model otherwise. */
int sql_expr_check_models(const corm_expr *e, const corm_model *const *models, size_t n,
                          const corm_alias *aliases, size_t na, util_err *err);

/* Compilation appends SQL text to b and parameters to ps. */
typedef struct sql_ctx sql_ctx;
struct sql_ctx {
    const drv_driver *drv;
    util_buf *b;
    sql_params *ps;
    util_err *err;
    /* compiles EX_REL and EX_SUBQ nodes; NULL refuses them */
    int (*hook)(sql_ctx *x, const corm_expr *e);
    void *ud;
    /* columns of alias_of are written as alias."column" (an inner scope
     * over the same table); NULL: none */
    const corm_model *alias_of;
    const char *alias;
};

void sql_put_ident(sql_ctx *x, const char *name);
void sql_put_column(sql_ctx *x, const corm_column *c);   /* "table"."column" */
void sql_put_placeholder(sql_ctx *x);                    /* ? or $n, for the last param */
/* Bind v for col as the next parameter and write its placeholder. */
int sql_put_value(sql_ctx *x, const corm_column *col, const corm_value *v, bool for_write);
int sql_compile_expr(sql_ctx *x, const corm_expr *e);

#endif
