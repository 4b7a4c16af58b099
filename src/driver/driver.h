/*
 * driver.h — the interface between corm and one database's client library.
 *
 * Each backend file (sqlite.c, postgres.c; mysql.c later) exports one
 * constant drv_driver and nothing else. Above this line nobody includes a
 * database's own header: the SQL layer speaks to every database through
 * these function pointers, the dialect facts below, and the five wire kinds
 * (NULL, integer, double, text, blob) every database can bind and return.
 * Drivers map their errors to corm codes and keep the database's own text.
 */
#ifndef CORM_DRIVER_H
#define CORM_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corm/corm.h"
#include "util/error.h"

typedef struct drv_conn drv_conn;
typedef struct drv_stmt drv_stmt;

/* A parsed database URL: scheme://user:password@host:port/database?k=v&... */
typedef struct drv_url {
    char *scheme, *user, *password, *host, *port, *database;
    size_t nparams;
    struct { char *key, *value; } params[16];
    char *redacted;   /* the URL with the password replaced by *** */
    char *priv;       /* what the driver keeps for one engine's URL (sqlite://: the
                         directory of its private database), freed by engine_close */
} drv_url;

/* Parse url into *out (strings malloc'd; drv_url_free releases them).
 * CORM_EURL with a sentence in err when malformed. */
/* url with its password (user:PASSWORD@, password=...) written as ***, in
 * out of size bytes (cut to fit); for any text, parsed or not. */
void drv_url_redact(const char *url, char *out, size_t size);
int drv_url_parse(const char *url, drv_url *out, util_err *err);
void drv_url_free(drv_url *u);
/* The value of parameter key, or NULL. */
const char *drv_url_param(const drv_url *u, const char *key);

enum drv_placeholder { DRV_PH_QMARK, DRV_PH_DOLLAR };

typedef struct drv_rschema drv_rschema;

typedef struct drv_driver {
    const char *name;              /* the URL scheme: "sqlite" */
    char quote;                    /* identifier quote character */
    enum drv_placeholder placeholder;
    bool has_returning;            /* INSERT ... RETURNING */
    const char *default_values;    /* what follows INSERT INTO t for a row of
                                      defaults only: " DEFAULT VALUES", or
                                      MariaDB's " () VALUES ()" */
    const char *const *params;     /* the URL parameters it accepts, NULL-terminated */

    /* The name of each corm type in DDL. NUMERIC's is followed by
     * "(precision, scale)", STRING's by "(length)"; an ENUM is a STRING as
     * long as its longest name. sch_type_ddl (schema.h) writes the whole. */
    const char *const *types;      /* CORM_TYPE_MAX_ of them */
    /* The DDL of an autoincrementing integer primary key column's type and
     * constraint ("INTEGER PRIMARY KEY"). */
    const char *autoinc_pk;
    /* The type such a key has when the schema is read back ("INTEGER"). */
    const char *autoinc_type;
    /* What CREATE TABLE ends with after its ")" (MariaDB: the character set
     * and a binary collation); NULL: nothing. */
    const char *table_options;
    /* A collation that orders NUMERIC columns stored as text by value, put
     * after such a column wherever it is compared or sorted; NULL when the
     * database stores decimals natively. */
    const char *numeric_collation;
    /* Exact SUM and AVG over NUMERIC columns, where the database's own would
     * go through floating point (SQLite): the functions' names; NULL: use
     * SUM and AVG. */
    const char *numeric_sum, *numeric_avg;
    /* How a transaction that will write begins ("BEGIN IMMEDIATE" on SQLite,
     * so that it never meets a snapshot that went stale while it read).
     * Sessions read outside transactions and begin one at their first write. */
    const char *begin_write;
    /* A session's first read begins its transaction too, held until its
     * commit or rollback, as SQLAlchemy's Session does (PostgreSQL: the
     * server then does one transaction's work for a session's reads, not
     * one per statement; READ COMMITTED still shows each statement all
     * that was committed before it, and readers never block writers).
     * false (SQLite): a session reads outside transactions until it writes,
     * since a read transaction there would go stale or block writers
     * (except in corm_run_in_transaction, whose unit is retried when its
     * snapshot went stale: orm_read). */
    bool reads_begin;
    /* Whether the transaction corm holds open on the connection takes no
     * more statements until a rollback: the database ended it (SQLite
     * rolls back all of it when a statement in it runs out of memory or
     * meets an I/O error; MariaDB on a deadlock or a Galera abort), a
     * statement failed in it (PostgreSQL), or the connection is gone. Asked
     * only while one is open (sql_txn_check). NULL: never. */
    bool (*txn_failed)(drv_conn *c);
    /* What LIMIT says for "no limit", before an OFFSET ("-1", "ALL"). */
    const char *no_limit;
    /* What ends a SELECT that locks the rows it reads (" FOR UPDATE");
     * NULL where the write transaction corm_with_for_update begins first
     * locks the whole database already (SQLite's BEGIN IMMEDIATE). */
    const char *for_update;
    /* NULL sorts after every value (PostgreSQL): ORDER BY then says where,
     * so that NULL sorts first ascending on every backend. */
    bool nulls_sort_high;

    /* Per-engine set-up and tear-down for a URL (NULL: none): a sqlite://
     * engine's private database lives from the first to the second. */
    int (*engine_open)(drv_url *url, util_err *err);
    void (*engine_close)(drv_url *url);

    int (*connect)(const drv_url *url, drv_conn **out, util_err *err);
    /* Whether a pooled connection can be used: ping, a round trip (at
     * checkout: a server may have restarted since); else what the client
     * library already knows and the socket shows (closed by the server:
     * drv_socket_peek). NULL: always (an embedded database). */
    bool (*alive)(drv_conn *c, bool ping);
    void (*close)(drv_conn *c);
    /* Run SQL without parameters or rows (BEGIN, DDL). */
    int (*exec)(drv_conn *c, const char *sql, util_err *err);
    /* Run `insert SELECT` (insert: "INSERT INTO t (cols)", insert_len
     * bytes; select: a SELECT) calling fn(ud, rows) every few thousand
     * rows inserted, and *rows the count at the end: a table rebuild's
     * copy with its progress. NULL where tables are altered in place. */
    int (*exec_counted)(drv_conn *c, const char *insert, size_t insert_len, const char *select,
                        void (*fn)(void *ud, int64_t rows), void *ud, int64_t *rows,
                        util_err *err);
    /* Whether the server can carry a DDL statement (create_all's and the
     * migrations', asked before any of them runs): CORM_EUNSUPPORTED with
     * a sentence for what its replication does not support (a Galera
     * cluster: a table without a primary key, another engine than
     * InnoDB, explicit table locks), else CORM_OK. NULL: everything. */
    int (*refuses_ddl)(drv_conn *c, const char *sql, util_err *err);
    /* The first word of sql when the server commits the open transaction
     * before it runs it (MariaDB's DDL, table locks, grants), else NULL:
     * raw SQL's refused while the session's transaction has written.
     * NULL: DDL is transactional (SQLite, PostgreSQL). */
    const char *(*commits_first)(const char *sql);

    int (*prepare)(drv_conn *c, const char *sql, size_t len, drv_stmt **out, util_err *err);
    void (*finalize)(drv_stmt *st);
    /* Make a statement ready to bind and step again. */
    void (*reset)(drv_stmt *st);
    /* Parameters are numbered from 1. */
    int (*bind_null)(drv_stmt *st, int i);
    int (*bind_int)(drv_stmt *st, int i, int64_t v);
    int (*bind_double)(drv_stmt *st, int i, double v);
    int (*bind_text)(drv_stmt *st, int i, const char *s, size_t n);
    int (*bind_blob)(drv_stmt *st, int i, const void *p, size_t n);
    /* 1: a row is ready; 0: done; < 0: a CORM_E* code with err set. */
    int (*step)(drv_stmt *st, util_err *err);
    /* Batches: statements sent without waiting for each one's result, the
     * results read after, in the order sent (libpq's pipeline mode: a flush
     * of 10,000 rows costs a round trip per batch, not per row). `send` runs
     * st with its parameters as bound now (they may be bound again at once);
     * `recv` reads the oldest sent statement's result into st, which must be
     * that statement, and returns as step would (1: a row ready, 0: none;
     * then step and column_* read on). After an error, the results still
     * outstanding are discarded: the caller sends no more and rolls back.
     * Nothing else may run on the connection while results are outstanding.
     * NULL (SQLite, with no round trip to save): statements run one by one. */
    int (*send)(drv_stmt *st, util_err *err);
    int (*recv)(drv_stmt *st, util_err *err);
    /* Only statements whose results are rows changed are sent (MariaDB's
     * array binding: one execute of many parameter sets, which gives back
     * no keys and no rows, and the rows changed only in all). After recv,
     * `changes` says 1 for each row of such a batch when the batch changed
     * as many rows as it ran, and -1 (which rows is not known) when fewer. */
    bool send_counts_only;
    /* UPDATEs of one column set may be written many rows a statement:
     * UPDATE t SET a = v.column1 FROM (VALUES (?, ?), ...) AS v WHERE
     * t.key = v.column2 (SQLite 3.33 and later, where no send saves the
     * per-statement cost instead). */
    bool update_from_values;
    /* Insert-or-update is INSERT ... ON DUPLICATE KEY UPDATE a = VALUES(a)
     * (MariaDB/MySQL: any unique key's conflict), not INSERT ... ON
     * CONFLICT (key) DO UPDATE SET a = excluded.a (SQLite, PostgreSQL). */
    bool upsert_duplicate_key;
    /* The caller reads the rows of st's run to the last, or drops them,
     * before anything else runs on the connection: the driver may read
     * them from the socket as they come (MariaDB) rather than buffer them
     * all first. NULL: nothing to gain. */
    void (*read_all)(drv_stmt *st);
    /* The caller reads st's rows in batches, perhaps over a long time, and
     * the client must not hold them all (corm_yield_per): the driver reads
     * them as they come (PostgreSQL's single-row mode, MariaDB's unbuffered
     * rows). Nothing else may run on the connection until the last row is
     * read: a command that runs anyway drops the rest, and stepping st
     * again then fails with CORM_ESTATE. NULL: the rows are read from the
     * database as stepped already (SQLite). */
    void (*stream)(drv_stmt *st);
    /* How many rows st's run returns, once it ran (its first step), when
     * the client holds them all (PostgreSQL's result, MariaDB's stored
     * rows): what a load reserves room for at once. -1: not known (read
     * as they come). NULL: never known (SQLite). */
    int64_t (*row_count)(drv_stmt *st);
    /* On a read replica, a query of one row and column: how many seconds
     * it is behind the primary (0 when it has replayed all it received).
     * NULL: replicas are not supported. */
    const char *replica_lag_sql;
    /* Whether a prepared statement only reads (raw SQL outside a transaction
     * then runs without beginning one). */
    bool (*stmt_readonly)(drv_stmt *st);

    int (*column_count)(drv_stmt *st);
    const char *(*column_name)(drv_stmt *st, int i);
    /* The current row's column i (from 0) as it came: out->kind is
     * CORM_V_NULL, CORM_V_INT, CORM_V_FLOAT, CORM_V_TEXT or CORM_V_BLOB (also
     * returned), with the value, uncopied: text and bytes stay valid until
     * the next step or reset, and text is read by its length, not up to a
     * NUL (MariaDB's lies in the row as it came, without one; so does the
     * text of column_text). One call gives both, because on SQLite each
     * column call pays the statement's checks again (a kind and then a
     * text cost three). corm reads keys and nullable columns so. The calls
     * below read a column as one type, converting it: a NOT NULL column
     * (on PostgreSQL the cheaper way: no NULL flag or type to ask libpq
     * for), or a value of another kind than its field's.
     * Out of memory: turning a value into text or bytes can need memory
     * (a number read as text, bytea unescaped, UTF-16 to UTF-8). When it
     * cannot be had, the text or bytes pointer is NULL: column_text and
     * column_blob return NULL, and column gives CORM_V_TEXT or CORM_V_BLOB
     * with a NULL pointer. Nothing else is NULL: a SQL NULL read by them is
     * "" with length 0. Every caller checks, so that a failed conversion is
     * CORM_ENOMEM, not an empty value. */
    corm_vkind (*column)(drv_stmt *st, int i, corm_value *out);
    int64_t (*column_int)(drv_stmt *st, int i);
    double (*column_double)(drv_stmt *st, int i);
    const char *(*column_text)(drv_stmt *st, int i, size_t *len);
    const void *(*column_blob)(drv_stmt *st, int i, size_t *len);
    /* A DATE, TIME or DATETIME column as the client library has it already
     * (MariaDB's MYSQL_TIME): true with *out set (a DATE's time zero, a
     * TIME's date zero), not checked; false: read its text. NULL: the text
     * always (it is what the others send). */
    bool (*column_datetime)(drv_stmt *st, int i, corm_datetime *out);

    /* The key the database gave the last row inserted; NULL when keys come
     * back only through RETURNING (the flush then asks for them). */
    int64_t (*last_insert_id)(drv_conn *c);
    int64_t (*changes)(drv_conn *c);
    /* Read the user tables of the database (not the driver's own). */
    int (*reflect)(drv_conn *c, drv_rschema *out, util_err *err);
    /* Around each migration revision: run before BEGIN, a check whose rows
     * mean failure (run before COMMIT), and after the end; NULL: none.
     * migrate_after is the text an offline script (--sql) ends with; on a
     * live connection migrate_done puts its settings back (SQLite: foreign
     * keys on, unless its URL had them off). */
    const char *migrate_before, *migrate_check, *migrate_after;
    void (*migrate_done)(drv_conn *c);
    /* ALTER TABLE changes columns and constraints in place (PostgreSQL,
     * MariaDB); false: migrations rebuild a changed table (SQLite). */
    bool alter_in_place;
    /* ALTER TABLE's words where databases differ: how a unique constraint
     * and a foreign key are dropped (NULL: "DROP CONSTRAINT"; MariaDB: "DROP
     * INDEX", "DROP FOREIGN KEY"); whether DROP INDEX names its table
     * (MariaDB: DROP INDEX i ON t); whether a column's type or nullability
     * changes by MODIFY COLUMN and the column's whole definition (MariaDB)
     * rather than ALTER COLUMN ... TYPE ... USING and SET/DROP NOT NULL. */
    const char *drop_unique, *drop_fk;
    bool drop_index_on_table, modify_column;
    /* A reflected table's CREATE TABLE text holds its indexes too (MariaDB's
     * SHOW CREATE TABLE): putting a dropped table back needs nothing more. */
    bool table_sql_has_indexes;
    /* DDL commits by itself (MariaDB): a revision that fails half-way
     * cannot be rolled back, so the version table marks it in progress. */
    bool ddl_autocommits;
    /* The database keeps a CHECK as it was written (SQLite keeps the CREATE
     * TABLE text), so the models' checks compare with the reflected ones;
     * false: it keeps them rewritten, and checks are not compared (as
     * Alembic's autogenerate does not). */
    bool checks_verbatim;
} drv_driver;

/* ---- reflection ------------------------------------------------------------
 * A live database's schema as the driver reads it, in the database's own
 * terms (declared type text, default SQL text), for the schema layer to
 * compare with the models. */
typedef struct drv_rcolumn {
    char *name, *type, *dflt;    /* dflt: the DEFAULT's SQL text, or NULL */
    bool notnull, pk;
} drv_rcolumn;

typedef struct drv_rindex {
    char *name;
    char *sql;                   /* its CREATE INDEX, or NULL (made by a constraint) */
    bool unique;                 /* a UNIQUE index or constraint */
    bool constraint;             /* made by a UNIQUE constraint, not CREATE INDEX */
    char **columns;
    size_t ncolumns;
} drv_rindex;

typedef struct drv_rfk {
    char *name;                  /* the constraint's, or NULL (SQLite keeps none) */
    char **columns, **ref_columns;
    size_t ncolumns;
    char *ref_table, *on_delete, *on_update;
} drv_rfk;

typedef struct drv_rtable {
    char *name;
    char *sql;                   /* its CREATE TABLE as the database keeps it (or,
                                    where it keeps none, as the driver writes it
                                    from the catalogs) */
    drv_rcolumn *columns;
    size_t ncolumns;
    drv_rindex *indexes;
    size_t nindexes;
    drv_rfk *fks;
    size_t nfks;
} drv_rtable;

struct drv_rschema {
    drv_rtable *tables;
    size_t ntables;
};

void drv_rschema_free(drv_rschema *rs);
/* The table named name, or NULL. */
const drv_rtable *drv_rschema_table(const drv_rschema *rs, const char *name);

/* What waits on the socket fd, seen without waiting or reading (socket.c):
 * 1 bytes the server sent unasked, 0 nothing, -1 end-of-file or an error
 * (the server closed the connection: lost before the next statement). */
int drv_socket_peek(int fd);

/* The driver for a URL scheme, or NULL. */
const drv_driver *drv_find(const char *scheme);

extern const drv_driver drv_sqlite;
extern const drv_driver drv_postgres;
extern const drv_driver drv_mysql;

#endif
