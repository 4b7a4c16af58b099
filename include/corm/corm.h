/*
 * corm.h — the one header a corm user includes.
 *
 * corm maps C structs to database rows. Models are declared with the macros
 * of corm/model.h; an engine opens a database from a URL and validates the
 * models once; a session adds, changes and deletes objects and writes them in
 * one unit of work; queries are built from column handles with every value
 * bound as a parameter.
 *
 * Conventions of this API, as in libuv: a call that can fail returns int, 0
 * (CORM_OK) or a negative CORM_E* code, and corm_errmsg() then holds a
 * sentence naming the model, the column and the offending value. Everything a
 * session returns (objects, their strings, result arrays) is owned by the
 * session and released by corm_session_free(); memory a user assigns into a
 * field is never freed by corm. Every *_free and *_close accepts NULL.
 */
#ifndef CORM_H
#define CORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "corm/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ------------------------------------------------------------
 * One table makes the codes, their names and their messages; codes are
 * never renumbered. */
#define CORM_ERRNO_MAP(XX)                                                    \
    XX(ENOMEM,      -1, "out of memory")                                      \
    XX(EINVAL,      -2, "invalid argument")                                   \
    XX(EURL,        -3, "malformed database URL")                             \
    XX(ECONNECT,    -4, "cannot open or connect to the database")             \
    XX(EBUSY,       -5, "database is locked or busy")                         \
    XX(EREADONLY,   -6, "database is read-only")                              \
    XX(ECONNLOST,   -7, "connection to the database lost")                    \
    XX(ESCHEMA,     -8, "invalid model declaration")                          \
    XX(ENOCOLUMN,   -9, "no such column in the model")                        \
    XX(ENOTNULL,   -10, "NULL in a NOT NULL column")                          \
    XX(ETOOLONG,   -11, "string longer than its column allows")               \
    XX(ERANGE,     -12, "value out of range for its column")                  \
    XX(EDATE,      -13, "invalid date or time")                               \
    XX(EJSON,      -14, "invalid JSON")                                       \
    XX(EENUM,      -15, "value is not one of the enum's names")               \
    XX(ETYPE,      -16, "value of the wrong type for its column")             \
    XX(EUNIQUE,    -17, "unique constraint violated")                         \
    XX(EFOREIGNKEY,-18, "foreign key constraint violated")                    \
    XX(ECHECK,     -19, "check constraint violated")                          \
    XX(ENOTFOUND,  -20, "no row found")                                       \
    XX(EMULTIPLE,  -21, "more than one row found")                            \
    XX(ESTATE,     -22, "object is not in a state that allows this")          \
    XX(ESQL,       -23, "the database rejected the statement")                \
    XX(EIO,        -24, "database I/O error")                                \
    XX(EINDOUBT,   -25, "connection lost during COMMIT: it may have been applied") \
    XX(EUNSUPPORTED,-26, "not supported by this database or cluster")         \
    XX(ESTALE,     -27, "row was changed by someone else")                  \
    XX(EABORTED,   -28, "the database ended the transaction after an error in it")

typedef enum corm_errno {
    CORM_OK = 0,
#define CORM__ERR_ENUM(name, code, msg) CORM_##name = (code),
    CORM_ERRNO_MAP(CORM__ERR_ENUM)
#undef CORM__ERR_ENUM
} corm_errno;

/* The generic message of a code ("unique constraint violated"); never NULL. */
const char *corm_strerror(int err);
/* The code's name ("CORM_EUNIQUE"); never NULL. */
const char *corm_err_name(int err);

/* ---- values ------------------------------------------------------------
 * A corm_value is a typed value: a filter argument, a raw-SQL parameter, a
 * cell of a result. Text and blob values point at memory they do not own. */
typedef enum corm_vkind {
    CORM_V_NULL, CORM_V_INT, CORM_V_FLOAT, CORM_V_BOOL, CORM_V_TEXT, CORM_V_BLOB,
    CORM_V_NUMERIC, CORM_V_DATE, CORM_V_TIME, CORM_V_DATETIME, CORM_V_UUID
} corm_vkind;

typedef struct corm_value {
    corm_vkind kind;
    union {
        int64_t i;
        double f;
        bool b;
        struct { const char *p; size_t n; } text;
        corm_blob blob;
        corm_numeric num;
        corm_date date;
        corm_time time;
        corm_datetime dt;
        corm_uuid uuid;
    } u;
} corm_value;

/* A corm_value of each kind, as corm_val chooses them by the C type (the
 * functions behind it, for when the type is not the one to go by):
 * corm_v_null(p) is SQL NULL for any pointer, corm_v_text(NULL) too. */
corm_value corm_v_null(const void *p);     /* any pointer: NULL -> SQL NULL */
corm_value corm_v_int(int64_t i);
corm_value corm_v_uint(uint64_t i);
corm_value corm_v_float(double f);
corm_value corm_v_bool(bool b);
corm_value corm_v_text(const char *s);      /* s == NULL gives SQL NULL */
corm_value corm_v_blob(corm_blob b);
corm_value corm_v_numeric(corm_numeric n);
corm_value corm_v_date(corm_date d);
corm_value corm_v_time(corm_time t);
corm_value corm_v_datetime(corm_datetime dt);
corm_value corm_v_uuid(corm_uuid u);
corm_value corm_v_value(corm_value v);

/* corm_val(x): the corm_value of a C value, chosen by x's type. */
#define corm_val(x) _Generic((x),                                             \
    bool: corm_v_bool,                                                        \
    char: corm_v_int, signed char: corm_v_int, short: corm_v_int,             \
    int: corm_v_int, long: corm_v_int, long long: corm_v_int,                 \
    unsigned char: corm_v_uint, unsigned short: corm_v_uint,                  \
    unsigned int: corm_v_uint, unsigned long: corm_v_uint,                    \
    unsigned long long: corm_v_uint,                                          \
    float: corm_v_float, double: corm_v_float,                                \
    char *: corm_v_text, const char *: corm_v_text,                           \
    void *: corm_v_null,                                                      \
    corm_blob: corm_v_blob, corm_numeric: corm_v_numeric,                     \
    corm_date: corm_v_date, corm_time: corm_v_time,                           \
    corm_datetime: corm_v_datetime, corm_uuid: corm_v_uuid, corm_value: corm_v_value)(x)

#define CORM__OP_VAL(M, i, x) corm_val(x),
/* CORM_ARGS(a, b, ...) expands to "array, count" of their corm_values, for
 * the (params, nparams) arguments of corm_execute. */
#define CORM_ARGS(...)                                                        \
    (const corm_value[]){ CORM__CAT(CORM__FE_, CORM__NARGS(__VA_ARGS__))(     \
        CORM__OP_VAL, _, 0, __VA_ARGS__) }, (size_t)CORM__NARGS(__VA_ARGS__)

/* ---- exact decimals, dates and times -------------------------------------- */

/* Parse "-123.4500" into an exact decimal (up to 38 significant digits).
 * Returns CORM_OK, or CORM_EINVAL for malformed text, CORM_ERANGE past 38 digits. */
int corm_numeric_parse(const char *text, corm_numeric *out);
/* Write the decimal with exactly its scale's digits after the point into
 * buf (at least CORM_NUMERIC_BUFSIZE bytes); returns buf. */
#define CORM_NUMERIC_BUFSIZE 44
char *corm_numeric_format(const corm_numeric *n, char *buf);
/* -1, 0 or 1 as a < b, a == b, a > b, whatever their scales. */
int corm_numeric_cmp(const corm_numeric *a, const corm_numeric *b);
/* The nearest double (for display; not exact). */
double corm_numeric_to_double(const corm_numeric *n);

/* True when the date exists in the proleptic Gregorian calendar, year 1..9999. */
bool corm_date_is_valid(corm_date d);
/* True when h < 24, m < 60, s < 60 and usec < 1,000,000. */
bool corm_time_is_valid(corm_time t);
/* Parse ISO-8601 text: "YYYY-MM-DD", "HH:MM:SS[.ffffff]",
 * "YYYY-MM-DD HH:MM:SS[.ffffff]" (a 'T' may separate). CORM_EDATE when the
 * text is malformed or names a date or time that does not exist. */
int corm_date_parse(const char *text, corm_date *out);
int corm_time_parse(const char *text, corm_time *out);
int corm_datetime_parse(const char *text, corm_datetime *out);
/* Format as above into buf of at least CORM_DATETIME_BUFSIZE bytes; the
 * fraction is written only when usec is not 0. Returns buf. */
#define CORM_DATETIME_BUFSIZE 32
char *corm_date_format(corm_date d, char *buf);
char *corm_time_format(corm_time t, char *buf);
char *corm_datetime_format(corm_datetime dt, char *buf);
/* The current UTC time, for CORM_DEFAULT_FN on a DATETIME field. */
void corm_default_utcnow(void *field);

/* Parse a UUID's text, "f81d4fae-7dec-11d0-a765-00a0c91e6bf6" (either
 * case) or its 32 hex digits without dashes. CORM_EINVAL otherwise. */
int corm_uuid_parse(const char *text, corm_uuid *out);
/* Write the UUID's text (36 characters, lower case) into buf of at least
 * CORM_UUID_BUFSIZE bytes; returns buf. */
#define CORM_UUID_BUFSIZE 37
char *corm_uuid_format(corm_uuid u, char *buf);
/* A random (version 4) UUID, from the kernel's generator. */
corm_uuid corm_uuid4(void);
/* A new random UUID, for CORM_DEFAULT_FN on a UUID field (a key, say). */
void corm_default_uuid4(void *field);

/* ---- engine --------------------------------------------------------------
 * An engine is a database reached through a URL, its validated models and a
 * pool of connections. It may be shared by several threads. */
typedef struct corm_engine corm_engine;

/* Open an engine.
 *   url:    "sqlite:///relative.db", "sqlite:////abs/path.db", "sqlite://"
 *           (the engine's private database), with optional parameters
 *           "?journal_mode=wal&busy_timeout=5000&synchronous=normal"; or
 *           "postgresql://user:pass@host:port/db" ("?host=/socket/dir" for a
 *           unix socket; libpq's sslmode, connect_timeout, options, ...).
 *           On every backend the pool takes pool_size (idle connections
 *           kept, 5), max_overflow (more open at once, 10) and pool_timeout
 *           (seconds a session waits for a connection, 30; then CORM_EBUSY).
 *           See docs/backends.md.
 *   models: the application's models, a NULL-terminated array. They are
 *           validated here: a duplicate name, a model with no or two primary
 *           keys, an unknown type, a bad default or a dangling foreign key is
 *           CORM_ESCHEMA.
 * The first connection is made here, so a bad path fails now.
 * On return *out is set whenever it could be allocated, also on failure, so
 * that corm_engine_errmsg() can say why; the caller closes it.
 * Errors: CORM_EURL, CORM_ESCHEMA, CORM_ECONNECT, CORM_ENOMEM. */
int corm_engine_open(corm_engine **out, const char *url, const corm_model *const *models);
/* Close the engine, its connections, and the memory it keeps for sessions
 * (up to 64 MiB of freed session memory is kept for the next sessions, as
 * malloc keeps freed memory). Sessions must be freed before. */
void corm_engine_close(corm_engine *e);
/* The last error of the engine itself (open, create_all, drop_all). */
const char *corm_engine_errmsg(const corm_engine *e);

/* The SQL echo: fn is called with one line per statement executed, its
 * parameters after it ("INSERT ... -- params: (1, 'marshal')"); values of
 * CORM_SENSITIVE columns and URL passwords are shown as '***'. NULL turns
 * the echo off. Set it before sessions are in use. */
typedef void (*corm_echo_fn)(void *ud, const char *line);
void corm_engine_set_echo(corm_engine *e, corm_echo_fn fn, void *ud);
/* Add a read replica of e's database (PostgreSQL streaming replication),
 * reached at url with its own pool. A session that has not written reads
 * from the replicas in turn; its first write (a flush, raw SQL that is not
 * a SELECT) moves it to the primary, where it stays, reading its own
 * writes, until it is reset. A replica that cannot be reached is not tried
 * again for a second; one more than max_lag seconds behind the primary (it
 * has received WAL it has not replayed since then) is passed over; with
 * none left, sessions read from the primary. Call before sessions start.
 * CORM_EINVAL on a backend without replicas (SQLite), CORM_EURL,
 * CORM_ESCHEMA as corm_engine_open for the replica's URL. */
int corm_engine_add_replica(corm_engine *e, const char *url, double max_lag);

/* Create the tables and indexes of the models that do not exist yet, parents
 * before children; an existing table is never altered. Errors: as the
 * database reports them (CORM_ESQL, CORM_EBUSY, ...). */
int corm_create_all(corm_engine *e);
/* Drop the models' tables that exist, children before parents. */
int corm_drop_all(corm_engine *e);

/* Compare the models with the live database: the number of differences (0
 * when they match) or a negative error. Each difference is a sentence:
 * "user.age: in the model, not in the database", "user.name: type
 * VARCHAR(80) in the model, TEXT in the database", ... — tables, columns,
 * types, nullability, server defaults, uniques, indexes, foreign keys and
 * CHECK constraints.
 * *out (may be NULL) receives them; free it with corm_schema_diff_free. */
typedef struct corm_schema_diff corm_schema_diff;
int corm_check_schema(corm_engine *e, corm_schema_diff **out);
size_t corm_schema_diff_count(const corm_schema_diff *d);
/* The i-th sentence, or NULL past the end. */
const char *corm_schema_diff_line(const corm_schema_diff *d, size_t i);
void corm_schema_diff_free(corm_schema_diff *d);

/* ---- migrations --------------------------------------------------------------
 * A migrations folder holds one SQL file per revision, each naming its
 * parent; the table corm_version records where the database is. These
 * calls are what `corm db ...` runs. Errors go to corm_engine_errmsg:
 * CORM_ENOTFOUND for a missing folder or unknown revision, CORM_ESTATE for
 * two heads, a missing parent or a database stamped at an unknown
 * revision, CORM_ESQL for a malformed file (file and line named), and a
 * failing statement's own code with the file and line. */

/* Create the folder (if missing) and the version table. */
int corm_migrate_init(corm_engine *e, const char *dir);
/* Write a hand-written revision after the head: upgrade and downgrade SQL,
 * statements ending with ';'. Its id goes to id_out (may be NULL). */
int corm_migrate_revision(corm_engine *e, const char *dir, const char *message, const char *up,
                          const char *down, char *id_out, size_t size);
/* Write a revision that brings the database (which must be at the head)
 * to the models: tables created and dropped, tables whose columns, types,
 * nullability, defaults, uniques or foreign keys changed rebuilt keeping
 * their rows (SQLite's batch way), indexes created and dropped, columns
 * marked CORM_OLD_NAME renamed. Warnings about data a revision would drop
 * go to notes (may be NULL). Returns 1 when a revision was written (its id
 * in id_out), 0 when the models match the database (no file). */
int corm_migrate_autogenerate(corm_engine *e, const char *dir, const char *message, FILE *notes,
                              char *id_out, size_t size);
/* Apply revisions up to target: "head" (or NULL), a revision id (or a
 * unique prefix), or "+N". Each revision runs in its own transaction with
 * its version change; one that fails leaves the database at the one before.
 * With sql non-NULL nothing runs: the SQL is written there (offline mode). */
int corm_migrate_upgrade(corm_engine *e, const char *dir, const char *target, FILE *sql);
/* Undo revisions down to target: "base", a revision, or "-N". */
int corm_migrate_downgrade(corm_engine *e, const char *dir, const char *target, FILE *sql);
/* Record target ("head", "base" or a revision) as current without running SQL. */
int corm_migrate_stamp(corm_engine *e, const char *dir, const char *rev);
/* Print the database's current revision(s), "<base>" when none. */
int corm_migrate_current(corm_engine *e, const char *dir, FILE *out);
/* Print the revisions, newest first (heads_only: just the heads). */
int corm_migrate_history(corm_engine *e, const char *dir, FILE *out, bool heads_only);
/* Print one revision: its parents, message and statements. */
int corm_migrate_show(corm_engine *e, const char *dir, const char *rev, FILE *out);
/* Write a revision joining the two heads (CORM_ESTATE unless there are two). */
int corm_migrate_merge(corm_engine *e, const char *dir, const char *message, char *id_out,
                       size_t size);

/* Write C model declarations for the tables of e's database to out, as
 * sqlacodegen and Django's inspectdb do (`db inspect`): a header of
 * CORM_MODEL blocks with columns, types, keys, uniques, indexes, defaults,
 * checks and foreign keys, the relationships the foreign keys imply
 * (many-to-one and its one-to-many or one-to-one; many-to-many through a
 * table of a key and two foreign keys), and CORM_INSPECTED_MODELS listing
 * them. Names that are not C identifiers keep theirs with CORM_NAME; a
 * type no corm type writes keeps the database's words with CORM_SQL_TYPE,
 * so that corm_check_schema finds no difference. A table without a
 * one-column primary key is left out, with a comment in the header and a
 * line on notes (may be NULL). Opened with no models (models = { NULL }).
 * Returns the number of models written, or a negative error. */
int corm_inspect(corm_engine *e, FILE *out, FILE *notes);

/* The `db` command line for an application: call it from main() with the
 * app's models when argv[1] is "db" (`./app db migrate -m "add age"`).
 * Commands: init, migrate, revision, upgrade, downgrade, current, history,
 * heads, show, stamp, merge, check, inspect; --url (or DATABASE_URL), --dir
 * (default "migrations"), -m MESSAGE, --sql. Returns the exit status: 0,
 * 1 on an error or (check) a difference, 2 on a usage error. */
int corm_cli_main(int argc, char **argv, const corm_model *const *models);

/* ---- session -------------------------------------------------------------
 * A session is a unit of work and an identity map, used by one thread at a
 * time. It takes a connection from the engine when it first needs one and
 * gives it back at commit or rollback. */
typedef struct corm_session corm_session;

/* A new session, or NULL when out of memory. */
corm_session *corm_session_new(corm_engine *e);
/* Roll back what is not committed and free everything the session owns:
 * its objects, their loaded strings, query results, queries. */
void corm_session_free(corm_session *s);
/* Roll back what is not committed and forget everything (SQLAlchemy's
 * session.close()): every object, string, result and query the session
 * gave is released and must not be used again; the session is as new.
 * For a long-lived session, so that its memory does not grow. */
void corm_session_reset(corm_session *s);
/* The last error's sentence ("" after success); owned by the session. */
const char *corm_errmsg(const corm_session *s);
/* The last error's code (0 after success). */
int corm_errcode(const corm_session *s);

/* What a query flushes before it runs. C cannot see `u->age = 30` happen,
 * so finding changed objects means comparing every loaded object with its
 * snapshot; doing that before every query costs O(objects in the session)
 * per query, so it is a choice:
 *   CORM_AUTOFLUSH_NEW (the default): pending inserts and deletes are
 *     flushed before a query; changes to loaded objects are written by
 *     corm_flush and corm_commit (call corm_flush to make a query see them),
 *     or with the deletes (which they may be what makes valid).
 *   CORM_AUTOFLUSH_ALL: also changed objects of the query's model, as
 *     SQLAlchemy's autoflush does.
 *   CORM_AUTOFLUSH_OFF: queries flush nothing. */
typedef enum corm_autoflush {
    CORM_AUTOFLUSH_NEW = 0, CORM_AUTOFLUSH_ALL, CORM_AUTOFLUSH_OFF
} corm_autoflush;
/* Set the session's autoflush mode (see corm_autoflush). */
void corm_session_set_autoflush(corm_session *s, corm_autoflush mode);

/* A new, transient object of model M with its client defaults applied, owned
 * by the session; NULL when out of memory. It is written only after corm_add. */
void *corm_new_(corm_session *s, const corm_model *m);
#define corm_new(s, M) ((M *)corm_new_((s), M##_model))

/* A copy of str owned by the session (freed with it), for assigning into
 * string fields; NULL when out of memory or str is NULL. */
char *corm_strdup(corm_session *s, const char *str);

/* Make a transient object pending: it is INSERTed at the next flush. Adding a
 * persistent object again does nothing. CORM_EINVAL if obj was not made by
 * this session's corm_new or loaded by it. */
int corm_add(corm_session *s, void *obj);
/* corm_add for each of n objects; stops at the first error. */
int corm_add_all(corm_session *s, void *const *objs, size_t n);
/* Mark a persistent object for DELETE at the next flush; a pending one is
 * simply not inserted. */
int corm_delete(corm_session *s, void *obj);
/* Write all pending changes in dependency order (INSERTs of parents first,
 * UPDATEs of changed columns only, DELETEs of children first) inside the
 * session's transaction. Before any SQL, every object is validated: NULL in
 * NOT NULL (CORM_ENOTNULL), a string too long (CORM_ETOOLONG), a bad date
 * (CORM_EDATE), JSON (CORM_EJSON), enum (CORM_EENUM) or decimal (CORM_ERANGE).
 * On error the transaction is rolled back, the objects stay pending with
 * their values, and nothing committed before is lost. */
int corm_flush(corm_session *s);
/* Flush, then commit the transaction. Errors as corm_flush, and those of
 * COMMIT (CORM_EBUSY). After an error the objects can be fixed and
 * committed again. One error is different: CORM_EINDOUBT, the connection
 * to a server was lost after COMMIT was sent and before its answer came,
 * so the transaction may or may not have been applied. The session is as
 * after a failed commit, but committing again could apply the work twice:
 * check the database first (corm_run_in_transaction never retries it). */
int corm_commit(corm_session *s);

/* Run a unit of work, retrying what a database may refuse for reasons that
 * pass (SQLAlchemy leaves this loop to its users; corm gives it): call
 * fn(s, ud), then corm_commit; when either fails with CORM_EBUSY (a lock
 * or busy timeout, a deadlock, a serialization failure, a Galera
 * certification conflict), CORM_ECONNLOST (the connection lost before
 * COMMIT was sent) or CORM_ECONNECT (no server took a new connection, as
 * while a replica is being promoted: nothing was sent), roll back, reset the session (corm_session_reset:
 * every object it held is released) and call fn again, after a pause that
 * doubles from 10 ms up to 1 s, with jitter; at most max_attempts calls in
 * all (1 or more). fn builds its work from nothing each time: it loads and
 * adds what it needs through s, keeps nothing from an earlier call, and
 * returns CORM_OK or an error code (which ends the loop). The unit's first
 * read begins its transaction, as corm_begin would: on SQLite a unit that
 * reads a row, changes it and writes it back is refused (CORM_EBUSY, run
 * again) when another committed a change to the row after its read, so no
 * update is lost; on PostgreSQL and MariaDB (READ COMMITTED) such a unit
 * locks what it reads (corm_with_for_update), or may write over a change
 * committed since its read.
 * Returns CORM_OK once committed; CORM_EINDOUBT, never retried, when the
 * connection was lost during COMMIT; otherwise the last error: with its own
 * sentence when it is not one that passes (a duplicate, a NULL in a NOT
 * NULL column: fn ran once), and after "unit of work given up after N
 * attempts: " when the attempts ran out. After an error the transaction is
 * rolled back as by corm_rollback (nothing of the unit is left in the
 * session to be written later) and the session is usable. CORM_EINVAL for
 * max_attempts < 1 or no fn. */
typedef int (*corm_unit_fn)(corm_session *s, void *ud);
int corm_run_in_transaction(corm_session *s, corm_unit_fn fn, void *ud, int max_attempts);
/* Roll the transaction back: objects added since the last commit are
 * dropped from the session, changed ones get their committed values back,
 * deleted ones are persistent again. */
int corm_rollback(corm_session *s);
/* Begin the session's transaction now, before its first read, as
 * hand-written code puts BEGIN before a run of SELECTs; it ends with
 * corm_commit or corm_rollback (or corm_session_free, which rolls back).
 * On SQLite a session otherwise reads outside any transaction until it
 * writes: each read then sees the newest commit, but takes and drops the
 * file's read lock for itself. After corm_begin the reads share one
 * transaction: one snapshot (another connection's commit is not seen
 * until this transaction ends), no lock per statement, and many reads go
 * faster (10,000 look-ups by key in bench/: 22% fewer instructions, and
 * no system call per statement). Its first write takes the
 * write lock then; if another connection committed since the snapshot was
 * taken, that write fails with CORM_EBUSY (retried by
 * corm_run_in_transaction). On PostgreSQL and MariaDB the first read
 * begins the transaction anyway, and each statement in it sees the newest
 * commit (READ COMMITTED); corm_begin only begins it now. In a transaction
 * already: nothing changes. Errors: those of connecting, CORM_EBUSY. */
int corm_begin(corm_session *s);
/* Flush, then open a SAVEPOINT; corm_commit_nested releases it and
 * corm_rollback_nested undoes what was written and changed since it. */
int corm_begin_nested(corm_session *s);
int corm_commit_nested(corm_session *s);
int corm_rollback_nested(corm_session *s);

/* Find the object of model M with primary key pk: from the identity map
 * when the session has it, else with one SELECT (pending inserts and
 * deletes flushed first, unless autoflush is CORM_AUTOFLUSH_OFF). *out is
 * NULL (and CORM_OK returned) when there is no such row. */
int corm_get_(corm_session *s, const corm_model *m, corm_value pk, void **out);
#define corm_get(s, M, pk, out)                                               \
    ((void)sizeof(*(out) = (M *)0), corm_get_((s), M##_model, corm_val(pk), (void **)(out)))
/* Copy the values of src, a struct of model M from anywhere (another
 * session's object, one you filled by hand, a request's body), onto the
 * session's object for its key (SQLAlchemy's session.merge): the one the
 * session holds, or loads with corm_get, or — when no row has the key, or
 * the key is an unset autoincrementing one — a new object, added. *out is
 * that object; the changes are written at the next flush, as any change.
 * Every column is copied but the key, a version column, and what src
 * leaves unsaid: a NULL string, JSON or blob, a zero date, time or
 * datetime (no valid one is zero) keep the object's value; numbers and
 * booleans are always copied (zero is a value). Strings and blobs are
 * copied into the session (src may go away). To store a NULL, use
 * corm_set_null (or assign NULL) on *out.
 * Relationships are followed (SQLAlchemy's merge cascade): a to-one
 * pointer src sets is merged the same way and *out points at the result
 * (a one-to-one's old child lets go, or is deleted under
 * CORM_DELETE_ORPHAN); a to-many array src fills is merged item by item
 * and the collection becomes exactly those items (the ones left out are
 * removed as corm_rel_remove does; CORM_ENOTNULL when the model forbids
 * it). A NULL pointer or an empty array says nothing: the object's stays.
 * A struct met twice in the graph is merged once. Pending objects are
 * flushed first, as a query's autoflush does; nothing is flushed while the
 * graph is being merged. On an error *out is NULL and what was merged so
 * far stays in the session (corm_rollback undoes it).
 * CORM_EINVAL for a NULL src or out. */
int corm_merge_(corm_session *s, const corm_model *m, const void *src, void **out);
#define corm_merge(s, M, src, out)                                              \
    ((void)sizeof(*(out) = (M *)0), corm_merge_((s), M##_model, (src), (void **)(out)))
/* Insert-or-update on a unique column (SQLAlchemy's on_conflict_do_update):
 * each of the n new objects of model M (corm_new, not added) is written
 * now as INSERT ... ON CONFLICT (on) DO UPDATE SET its other columns
 * (MariaDB: ON DUPLICATE KEY UPDATE, which any unique key's conflict
 * triggers), many rows a statement (up to 64 that write the same columns,
 * cut where a value of `on` comes again: the later one wins), and its row
 * is read back (RETURNING) into the
 * session's object for that row: out[i] is the object the session already
 * held, updated, or a new persistent one; objs[i] stays as you made it,
 * outside the session. Columns left unset that the database fills (the
 * key, server defaults) keep an existing row's values; a version column
 * starts at 1 and is bumped by an update. Pending changes are flushed
 * first. An error rolls the transaction back as a failed flush does
 * (out[] all NULL); a row refused among several is found by running the
 * call again a row a statement, so that the error is that row's. CORM_EINVAL when on is not a column of M unique by
 * itself, or an object is not a new M of this session. */
int corm_upsert_(corm_session *s, const corm_model *m, void *const *objs, size_t n,
                 const corm_column *on, void **out);
#define corm_upsert(s, M, objs, n, on, out)                                     \
    corm_upsert_((s), M##_model, (void *const *)(objs), (n), (on), (void **)(out))
/* corm_get for a model whose key has several columns (or one): the n
 * values in the key's column order, as the model declares them:
 * corm_get_key(s, PostTag, CORM_ARGS(post_id, tag_id), &pt). CORM_EINVAL
 * when n is not the key's width (corm_get says so for a composite key). */
int corm_get_key_(corm_session *s, const corm_model *m, const corm_value *pk, size_t n,
                  void **out);
#define corm_get_key(s, M, pk_and_n, out)                                       \
    ((void)sizeof(*(out) = (M *)0), corm_get_key_((s), M##_model, pk_and_n, (void **)(out)))
/* Reload every column of a persistent object from the database, discarding
 * unflushed changes. CORM_ENOTFOUND when its row is gone. */
int corm_refresh(corm_session *s, void *obj);
/* Expire obj (SQLAlchemy's session.expire): its columns are read again the
 * next time the session meets its row — corm_get (which asks the database
 * instead of the identity map), a query returning it, a relationship
 * loading it — so that a long-lived session sees what others committed;
 * corm_refresh reads it at once. C has no attribute access to hook, so
 * until then its fields hold the values they had. A many-to-one whose key
 * the new row changes is unloaded (corm_related reads it again). Changing
 * an expired object before it is read makes it an ordinary change, which
 * is kept and written; the object stays expired, and is read again when
 * next met after the flush. CORM_ESTATE for an object that is not persistent or
 * has changes not yet flushed (flush them, or corm_refresh to discard). */
int corm_expire(corm_session *s, void *obj);
/* corm_expire for every persistent object of the session without
 * unflushed changes. */
void corm_expire_all(corm_session *s);
/* Expire every object at each successful commit (SQLAlchemy's
 * expire_on_commit). Off by default in corm, unlike SQLAlchemy: there a
 * read of an expired attribute loads it, so expiring costs only what is
 * read; in C a field cannot load itself, so expired objects keep their old
 * values until the session meets their rows again, and turning this on
 * makes every corm_get after a commit a SELECT. Turn it on for a
 * long-lived session that must see other writers' changes without asking. */
void corm_session_set_expire_on_commit(corm_session *s, bool on);
/* Forget the object: it is no longer tracked or written. Its memory stays
 * valid until corm_session_free. */
int corm_expunge(corm_session *s, void *obj);
/* True when a flush would write something for this object. */
bool corm_is_modified(const corm_session *s, const void *obj);

/* NULL in scalar fields (integers, floats, booleans, decimals, dates, enums)
 * is a flag per column; for pointer fields (strings, JSON, BLOB data) it is
 * the NULL pointer. corm_new starts numbers at 0 and booleans at false (real
 * values), pointers at NULL, and nullable dates, times and foreign keys as
 * NULL (a date has no zero value, a key 0 points at nothing). A loaded NULL flag is cleared by a flush when the field
 * was given another value than the one it had; to store the zero value in a
 * NULL column, clear the flag with corm_set_null(obj, col, false). */
/* Errors: CORM_ENOTNULL for a NOT NULL column that is not a pointer,
 * CORM_EINVAL for an object not from a session or a column of another model. */
int corm_set_null(void *obj, const corm_column *col, bool is_null);
bool corm_field_is_null(const void *obj, const corm_column *col);

/* ---- expressions -------------------------------------------------------------
 * Filters are trees of corm_expr made by the functions below; a query takes
 * ownership of the tree given to it, and a combinator of its children. A
 * NULL argument (a constructor that ran out of memory) makes the query fail
 * with CORM_ENOMEM when it runs. Column arguments are column handles
 * (User_age) or expressions. */
typedef struct corm_expr corm_expr;
typedef struct corm_alias corm_alias;
typedef struct corm_query corm_query;

typedef enum corm_op {
    CORM_OP_EQ = 1, CORM_OP_NE, CORM_OP_LT, CORM_OP_LE, CORM_OP_GT, CORM_OP_GE
} corm_op;

/* A column as an expression; CORM__E() turns a handle or an expression
 * into a corm_expr * for the macros below. */
corm_expr *corm_expr_col(const corm_column *col);
corm_expr *corm_expr_id(corm_expr *e);
#define CORM__E(x) _Generic((x), const corm_column *: corm_expr_col,         \
                            corm_column *: corm_expr_col, corm_expr *: corm_expr_id)(x)

/* a <op> v, v converted for a's column (a date string for a DATE column is
 * parsed and checked). Comparing with NULL means IS NULL / IS NOT NULL. */
corm_expr *corm_cmp_(corm_expr *a, corm_op op, corm_value v);
#define corm_eq(a, v) corm_cmp_(CORM__E(a), CORM_OP_EQ, corm_val(v))
#define corm_ne(a, v) corm_cmp_(CORM__E(a), CORM_OP_NE, corm_val(v))
#define corm_lt(a, v) corm_cmp_(CORM__E(a), CORM_OP_LT, corm_val(v))
#define corm_le(a, v) corm_cmp_(CORM__E(a), CORM_OP_LE, corm_val(v))
#define corm_gt(a, v) corm_cmp_(CORM__E(a), CORM_OP_GT, corm_val(v))
#define corm_ge(a, v) corm_cmp_(CORM__E(a), CORM_OP_GE, corm_val(v))
/* a IN (values...), a NOT IN (...): the n values are copied. */
corm_expr *corm_in_(corm_expr *a, const corm_value *values, size_t n, bool negate);
#define corm_in(a, values, n)     corm_in_(CORM__E(a), (values), (n), false)
#define corm_not_in(a, values, n) corm_in_(CORM__E(a), (values), (n), true)
/* LIKE is case-sensitive on every backend; ILIKE is not (ASCII letters).
 * In the pattern, % and _ are wildcards and a backslash makes the next
 * character (%, _ or a backslash) literal, on every backend: "50\\%" is
 * the text 50%. */
corm_expr *corm_like_(corm_expr *a, const char *pattern, bool icase);
#define corm_like(a, pattern)  corm_like_(CORM__E(a), (pattern), false)
#define corm_ilike(a, pattern) corm_like_(CORM__E(a), (pattern), true)
/* Searching for the user's text (SQLAlchemy's contains, startswith and
 * endswith with autoescape): text is matched as it is, its %, _ and
 * backslashes literal, so that a search box given "50%" finds "50%", not
 * everything. The i- forms ignore the case of ASCII letters, as ILIKE.
 * text is copied; NULL matches nothing. */
typedef enum corm_match {
    CORM_MATCH_CONTAINS = 0, CORM_MATCH_STARTS, CORM_MATCH_ENDS
} corm_match;
corm_expr *corm_match_(corm_expr *a, const char *text, corm_match where, bool icase);
#define corm_contains(a, text)    corm_match_(CORM__E(a), (text), CORM_MATCH_CONTAINS, false)
#define corm_icontains(a, text)   corm_match_(CORM__E(a), (text), CORM_MATCH_CONTAINS, true)
#define corm_startswith(a, text)  corm_match_(CORM__E(a), (text), CORM_MATCH_STARTS, false)
#define corm_istartswith(a, text) corm_match_(CORM__E(a), (text), CORM_MATCH_STARTS, true)
#define corm_endswith(a, text)    corm_match_(CORM__E(a), (text), CORM_MATCH_ENDS, false)
#define corm_iendswith(a, text)   corm_match_(CORM__E(a), (text), CORM_MATCH_ENDS, true)
corm_expr *corm_null_test_(corm_expr *a, bool negate);
#define corm_is_null(a)     corm_null_test_(CORM__E(a), false)
#define corm_is_not_null(a) corm_null_test_(CORM__E(a), true)
corm_expr *corm_between_(corm_expr *a, corm_value lo, corm_value hi);
#define corm_between(a, lo, hi) corm_between_(CORM__E(a), corm_val(lo), corm_val(hi))
corm_expr *corm_and_(corm_expr *const *terms, size_t n);
corm_expr *corm_or_(corm_expr *const *terms, size_t n);
#define corm_and(...) corm_and_((corm_expr *const[]){ __VA_ARGS__ },        \
                                sizeof((corm_expr *[]){ __VA_ARGS__ }) / sizeof(corm_expr *))
#define corm_or(...) corm_or_((corm_expr *const[]){ __VA_ARGS__ },          \
                              sizeof((corm_expr *[]){ __VA_ARGS__ }) / sizeof(corm_expr *))
corm_expr *corm_not(corm_expr *e);
/* Aggregates; corm_count_all() is COUNT(*). */
typedef enum corm_fn { CORM_FN_COUNT = 1, CORM_FN_SUM, CORM_FN_MIN, CORM_FN_MAX, CORM_FN_AVG } corm_fn;
corm_expr *corm_fn_(corm_fn fn, corm_expr *arg);
#define corm_count_of(a) corm_fn_(CORM_FN_COUNT, CORM__E(a))
#define corm_sum(a)      corm_fn_(CORM_FN_SUM, CORM__E(a))
#define corm_min(a)      corm_fn_(CORM_FN_MIN, CORM__E(a))
#define corm_max(a)      corm_fn_(CORM_FN_MAX, CORM__E(a))
#define corm_avg(a)      corm_fn_(CORM_FN_AVG, CORM__E(a))
#define corm_count_all() corm_fn_(CORM_FN_COUNT, NULL)
/* Arithmetic on a number column, SQLAlchemy's User.age + 1 and User.id % 2:
 * (a + v), (a - v), (a * v) for integer and float columns, (a % v) for
 * integer ones, usable wherever a column is (filters, ordering, selected
 * columns); a value compared with the result is converted for a's column:
 * corm_eq(corm_mod(User_id, 2), 0). On another column type the query fails
 * with CORM_ETYPE naming it (decimals too: corm keeps them exact, and the
 * databases' arithmetic on them would not be everywhere); corm_mod by 0
 * with CORM_ERANGE on every backend. Integer results follow the database's
 * integer arithmetic (% keeps the sign of a on all three). */
typedef enum corm_arith {
    CORM_ARITH_PLUS = 1, CORM_ARITH_MINUS, CORM_ARITH_TIMES, CORM_ARITH_MOD
} corm_arith;
corm_expr *corm_arith_(corm_expr *a, corm_arith op, corm_value v);
#define corm_plus(a, v)  corm_arith_(CORM__E(a), CORM_ARITH_PLUS, corm_val(v))
#define corm_minus(a, v) corm_arith_(CORM__E(a), CORM_ARITH_MINUS, corm_val(v))
#define corm_times(a, v) corm_arith_(CORM__E(a), CORM_ARITH_TIMES, corm_val(v))
#define corm_mod(a, v)   corm_arith_(CORM__E(a), CORM_ARITH_MOD, corm_val(v))
/* Sort keys for corm_order_by. */
corm_expr *corm_sort_(corm_expr *a, bool desc);
#define corm_asc(a)  corm_sort_(CORM__E(a), false)
#define corm_desc(a) corm_sort_(CORM__E(a), true)
/* EXISTS a related row along rel (matching `where`, a condition on the
 * target's columns, or any row when NULL): SQLAlchemy's any() on a to-many
 * relationship, has() on a to-one. */
corm_expr *corm_any(const corm_relation *rel, corm_expr *where);
#define corm_has(rel, where) corm_any((rel), (where))
/* a IN (the SELECT of query sub, which selects one column with corm_select);
 * sub stays owned by its session. */
corm_expr *corm_in_query_(corm_expr *a, corm_query *sub, bool negate);
#define corm_in_query(a, sub)     corm_in_query_(CORM__E(a), (sub), false)
#define corm_not_in_query(a, sub) corm_in_query_(CORM__E(a), (sub), true)
/* Free a tree that was not given to a query. */
void corm_expr_free(corm_expr *e);

/* ---- queries ---------------------------------------------------------------
 * A query belongs to its session and is freed with it (or earlier with
 * corm_query_free). The builder calls return CORM_OK or an error, and also
 * remember the first error, which the executing call returns. Executing
 * calls autoflush first (see corm_autoflush). */
typedef struct corm_query corm_query;

/* A query of model M's objects; NULL when out of memory or M is not
 * registered (corm_errmsg says which). */
corm_query *corm_query_new_(corm_session *s, const corm_model *m);
#define corm_query_new(s, M) corm_query_new_((s), M##_model)
/* Free a query before its session is freed; results it gave stay valid. */
void corm_query_free(corm_query *q);

/* Add a WHERE term (ANDed with earlier ones); takes ownership of e. */
int corm_filter(corm_query *q, corm_expr *e);
/* WHERE column = value, the column named by a string and looked up in the
 * model; CORM_ENOCOLUMN for a name the model does not have. */
int corm_filter_by_(corm_query *q, const char *column, corm_value v);
#define corm_filter_by(q, column, v) corm_filter_by_((q), (column), corm_val(v))
/* JOIN (inner) or LEFT OUTER JOIN the target of rel, which starts at the
 * query's model or a model joined before; filters, ordering and selected
 * columns may then use the joined model's columns. The query still returns
 * objects of its own model (once per joined row). Joining a model already
 * in the query (itself, or twice) takes an alias (below): without one it
 * is CORM_EINVAL. */
int corm_join(corm_query *q, const corm_relation *rel);
int corm_outerjoin(corm_query *q, const corm_relation *rel);
/* Aliases (SQLAlchemy's aliased(User)): model M once more in query q,
 * under a name of its own, so that a query can join the same model twice
 * (a message's sender and its recipient) or a model to itself (a tree's
 * parents and children). corm_join_alias joins rel from `from` (an alias
 * joined before, or NULL: rel's model as the query has it) to `to` (an
 * alias of rel's target, or NULL: the target itself); corm_acol(a, col) is
 * col of the alias, for filters, ordering and selected columns;
 * corm_add_alias adds its objects to what corm_tuples returns. The alias
 * belongs to the query (freed with it, usable in it only); NULL when out
 * of memory or past 8 aliases (the query then fails with CORM_ENOMEM or
 * CORM_EINVAL). CORM_EINVAL for an alias of another model or query, or one
 * not joined yet where a joined one is needed. */
corm_alias *corm_alias_(corm_query *q, const corm_model *m);
#define corm_alias(q, M) corm_alias_((q), M##_model)
int corm_join_alias(corm_query *q, const corm_alias *from, const corm_relation *rel,
                    const corm_alias *to);
int corm_outerjoin_alias(corm_query *q, const corm_alias *from, const corm_relation *rel,
                         const corm_alias *to);
corm_expr *corm_acol(const corm_alias *a, const corm_column *col);
int corm_add_alias(corm_query *q, const corm_alias *a);
/* Read the query's rows from another query of the same model, as a derived
 * table: SELECT ... FROM (sub's SELECT) AS "table" (SQLAlchemy's
 * select_from(subquery)). sub must select whole objects (no corm_select) and
 * stays owned by its session. */
int corm_select_from(corm_query *q, corm_query *sub);
/* ORDER BY; e is a column, corm_asc(col) or corm_desc(col). Several calls
 * add keys in order. */
int corm_order_by_(corm_query *q, corm_expr *e);
#define corm_order_by(q, e) corm_order_by_((q), CORM__E(e))
int corm_limit(corm_query *q, int64_t n);
int corm_offset(corm_query *q, int64_t n);
int corm_distinct(corm_query *q);
/* Lock the rows the query reads until the session's transaction ends
 * (SQLAlchemy's with_for_update()): SELECT ... FOR UPDATE on PostgreSQL and
 * MariaDB. The query begins the session's write transaction (on the
 * primary, with replicas), so on SQLite, whose write transaction locks the
 * whole database (BEGIN IMMEDIATE), the rows are as safe. For read, change
 * and write back: another session doing the same waits instead of writing
 * over the change (a lost update). Objects the session already holds are
 * read again from the locked rows (unless they hold changes not yet
 * written), so a long-lived session sees the current values. On a Galera
 * cluster the locks hold on
 * one node; a conflicting commit on another is refused (CORM_EBUSY) and
 * corm_run_in_transaction runs the unit again. */
int corm_with_for_update(corm_query *q);
/* Load the query's objects as read-only copies the session does not track
 * (Hibernate's read-only query): no snapshot is kept to find changes, so
 * they cost the struct and its strings, as a hand-written program's rows do
 * (corm_all of 100,000 users: 0.6x the memory of tracked objects). They
 * live as long as the session's other objects; they are not in the
 * identity map (corm_get gives the tracked object, another pointer), their
 * changes are never written, and corm_add, corm_delete, corm_load and
 * corm_refresh refuse them with CORM_ESTATE. For reports and exports that
 * read many rows and change none; for more rows than memory holds, stream
 * them (corm_yield_per). Whole objects only: corm_select, eager loads,
 * added entities and corm_with_for_update make corm_all CORM_EINVAL. */
int corm_read_only(corm_query *q);
/* Select these expressions instead of whole objects (columns, aggregates);
 * read the result with corm_rows. */
int corm_select_(corm_query *q, corm_expr *e);
#define corm_select(q, e) corm_select_((q), CORM__E(e))
int corm_group_by_(corm_query *q, corm_expr *e);
#define corm_group_by(q, e) corm_group_by_((q), CORM__E(e))
int corm_having(corm_query *q, corm_expr *e);

/* All matching objects. *out is an array of *n object pointers, owned by the
 * session (NULL when n is 0). */
int corm_all(corm_query *q, void *out, size_t *n);
/* The first object or NULL (LIMIT 1). */
int corm_first(corm_query *q, void *out);
/* Streaming, for tables too big to hold at once (SQLAlchemy's yield_per):
 * after corm_yield_per(q, per), each corm_next_batch(q, &v, &n) gives the
 * next batch of at most per objects, and n == 0 at the end; the client
 * holds one batch at a time (PostgreSQL reads rows in single-row mode,
 * MariaDB unbuffered, SQLite from its cursor), so memory is bounded by
 * per, not by the table. The objects are read-only copies the session
 * does not track (not in its identity map, never flushed; corm_add,
 * corm_delete, corm_load refuse them with CORM_ESTATE) and a batch's
 * memory is reused by the next: copy what you keep, or load it with
 * corm_get. Whole objects only (no corm_select, eager loads or added
 * entities: CORM_EINVAL). Until the last batch the session's connection
 * reads only this query: run other statements in another session (a
 * commit, rollback or reset of this one ends the stream, and the next
 * call says so with CORM_ESTATE). CORM_EINVAL for per == 0 or a query
 * without corm_yield_per. */
int corm_yield_per(corm_query *q, size_t per);
int corm_next_batch(corm_query *q, void *out, size_t *n);
/* Exactly one: CORM_ENOTFOUND when none, CORM_EMULTIPLE when several. */
int corm_one(corm_query *q, void *out);
/* One or NULL: CORM_EMULTIPLE when several. */
int corm_one_or_none(corm_query *q, void *out);
/* SELECT COUNT(*) of the query (limit and offset applied). */
int corm_count(corm_query *q, int64_t *n);
/* Whether any row matches. */
int corm_exists(corm_query *q, bool *exists);

/* A page, as Flask-SQLAlchemy's paginate gives it: items of page `page`
 * (1-based) of `per_page` rows, and the total over all pages. */
typedef struct corm_page {
    void **items;
    size_t n;
    int64_t page, per_page, total, pages;
    bool has_prev, has_next;
    int64_t prev_num, next_num;
} corm_page;
int corm_paginate(corm_query *q, int64_t page, int64_t per_page, corm_page *out);

/* Several models at once, as SQLAlchemy's query(User, Post): add model M
 * (joined into the query with corm_join/corm_outerjoin) to what each row
 * returns, then read the rows with corm_tuples: rows[i][0] is the query's
 * object, rows[i][k] the k-th added model's (NULL where an outer join found
 * none). All owned by the session. */
int corm_add_entity_(corm_query *q, const corm_model *m);
#define corm_add_entity(q, M) corm_add_entity_((q), M##_model)
int corm_tuples(corm_query *q, void ****rows, size_t *n);

/* Bulk UPDATE of every matching row: corm_set adds "column = value"
 * assignments, corm_update runs them and reports the rows changed. Objects
 * of the session that match take the new values. */
int corm_set_(corm_query *q, const corm_column *col, corm_value v);
#define corm_set(q, col, v) corm_set_((q), (col), corm_val(v))
int corm_update(corm_query *q, int64_t *rowcount);
/* Bulk DELETE of every matching row; the session's matching objects are
 * expunged. */
int corm_delete_where(corm_query *q, int64_t *rowcount);

/* ---- result rows -------------------------------------------------------------
 * Rows of values, from corm_rows (a query with corm_select) or corm_execute.
 * Owned by the session. Values are typed by their columns: aggregates COUNT
 * give CORM_V_INT, AVG CORM_V_FLOAT, SUM/MIN/MAX the column's kind. Over a
 * NUMERIC column SUM and AVG are exact CORM_V_NUMERIC on every backend (AVG
 * with six digits more than the column's scale, rounded half away from
 * zero); a sum past 38 digits is CORM_ERANGE. */
typedef struct corm_result corm_result;
int corm_rows(corm_query *q, corm_result **out);
size_t corm_result_nrows(const corm_result *r);
size_t corm_result_ncols(const corm_result *r);
/* The value at (row, col); a CORM_V_NULL value out of range. */
const corm_value *corm_result_value(const corm_result *r, size_t row, size_t col);
/* Convenience readers: 0, 0.0 or NULL when the cell is NULL or not of that kind. */
int64_t corm_result_int(const corm_result *r, size_t row, size_t col);
double corm_result_float(const corm_result *r, size_t row, size_t col);
const char *corm_result_text(const corm_result *r, size_t row, size_t col);
/* Rows changed by a statement run with corm_execute. */
int64_t corm_result_changes(const corm_result *r);

/* ---- raw SQL -------------------------------------------------------------------
 * The escape hatch. sql uses '?' placeholders, one per parameter (translated
 * for the database); values are always bound, never pasted. The session's
 * pending changes are flushed first. out may be NULL. A statement that
 * begins or ends a transaction or a savepoint (BEGIN, START TRANSACTION,
 * COMMIT, END, ROLLBACK, ABORT, SAVEPOINT, RELEASE, XA, PREPARE
 * TRANSACTION) is CORM_EINVAL, nothing run: the session does that itself
 * (corm_begin, corm_commit, corm_rollback, corm_begin_nested), and keeps
 * what its transaction did in step with it. On MariaDB and MySQL, which
 * commit the open transaction before DDL (CREATE, ALTER, DROP, RENAME,
 * TRUNCATE; table locks, grants, ANALYZE / OPTIMIZE / REPAIR TABLE), such a
 * statement is CORM_EINVAL while the session's transaction has written,
 * and otherwise runs on its own, outside it; elsewhere DDL runs in the
 * transaction like any statement. */
int corm_execute(corm_session *s, const char *sql, const corm_value *params,
                 size_t nparams, corm_result **out);
/* Run a SELECT whose columns are named like model M's and map the rows onto
 * objects of M (through the identity map). Every column of M must be in the
 * result (CORM_ENOCOLUMN names the first that is not); columns M lacks are
 * ignored. */
int corm_execute_objects_(corm_session *s, const corm_model *m, const char *sql,
                          const corm_value *params, size_t nparams, void *out, size_t *n);
/* corm_execute_objects(s, M, sql, params, nparams, out, n) */
#define corm_execute_objects(s, M, ...) corm_execute_objects_((s), M##_model, __VA_ARGS__)

/* ---- relationships ------------------------------------------------------------
 * Relationship fields are filled by loading, never behind the user's back
 * (C has no property access to hook): lazily with corm_load, eagerly with a
 * query's corm_selectin. Loaded objects go through the identity map, and
 * loading a one-to-many also points each child's many-to-one back at its
 * parent. Arrays of a to-many field belong to the session. */

/* Load obj's relationship rel from the database into its field (again, if
 * it was loaded before): one SELECT. A many-to-one whose key is NULL is NULL.
 * Loading never undoes what the user changed and has not flushed: a
 * many-to-one pointer the user set is kept, a child moved to another parent
 * (by corm_rel_add or by its key) is not put back, and children added with
 * corm_rel_add stay in the collection. */
int corm_load(corm_session *s, void *obj, const corm_relation *rel);
/* Whether obj's relationship rel has been loaded (corm_load, corm_related,
 * an eager option, or set by corm_rel_add on a loaded parent): only then
 * does its field say what the database holds — a NULL to-one is "no row",
 * an empty array "no children". false for NULL, an object corm did not
 * make, or rel of another model. */
bool corm_is_loaded(const void *obj, const corm_relation *rel);
/* The relationship, loaded on first use (SQLAlchemy's lazy="select"), in
 * one expression: `User *u = corm_related(s, post, Post_user);`. A to-one
 * gives the object or NULL; a to-many the field's items after loading
 * (obj->rel.n of them; NULL when there are none). NULL is "no row" when
 * corm_errcode(s) is 0, else the error (CORM_EINVAL for an object of
 * another session or rel of another model, a database error from the
 * SELECT). Loaded once: later calls read the field (corm_load reloads). A
 * new or deleted object's field is returned as it is, without SQL. Each
 * load counts for the N+1 warning as corm_load does. */
void *corm_related_(corm_session *s, void *obj, const corm_relation *rel);
#define corm_related(s, obj, rel) corm_related_((s), (obj), (rel))
/* Eager loading for a query: after its rows, each relationship on the path
 * (User_posts, then Post_comments, ...) is loaded for all the objects of the
 * level before in one SELECT ... WHERE key IN (...) (chunked by 500 keys).
 * CORM_EINVAL when the path does not start at the query's model or a step
 * does not start where the last ended. */
int corm_selectin_(corm_query *q, const corm_relation *const *path);
#define corm_selectin(q, ...) corm_selectin_((q), (const corm_relation *const[]){ __VA_ARGS__, NULL })
/* corm_selectin with the path given by names, "articles.notes", looked up
 * in the models; CORM_EINVAL naming the model and the name when one of
 * them has no such relationship. */
int corm_selectin_path(corm_query *q, const char *path);
/* Eager loading in the query's own SELECT: rel's target is LEFT OUTER
 * JOINed and its columns read from the same rows (one query in all). One
 * per query; with a to-many rel the query may not have a limit or offset
 * (they would count joined rows; use corm_selectin). */
int corm_joinedload(corm_query *q, const corm_relation *rel);
/* Add child to parent's one-to-many rel: appended to the array, its
 * many-to-one pointed at parent (its foreign key follows at flush), and a
 * transient child added to the session (SQLAlchemy's save-update cascade).
 * A child of another parent is moved: it leaves that parent's collection.
 * Changes to collections are undone by corm_rollback, and kept (to be
 * written again) by a commit that failed. */
int corm_rel_add(corm_session *s, void *parent, const corm_relation *rel, void *child);
/* Remove child from parent's one-to-many rel: its many-to-one is set to
 * NULL, so its foreign key becomes NULL at flush; with CORM_DELETE_ORPHAN
 * the child is deleted instead. CORM_ENOTNULL, with nothing changed, when
 * the key is NOT NULL and the relationship has no CORM_DELETE_ORPHAN. The
 * collection need not be loaded: a child whose key names parent is removed
 * all the same. */
int corm_rel_remove(corm_session *s, void *parent, const corm_relation *rel, void *child);

/* Warnings: fn is called with a sentence when the engine sees something
 * worth a look — today, lazy loads of one relationship running one object
 * at a time in a session (the N+1 pattern), naming the eager option that
 * would load them at once. NULL turns warnings off (the default). */
typedef void (*corm_warn_fn)(void *ud, const char *msg);
void corm_engine_set_warnings(corm_engine *e, corm_warn_fn fn, void *ud);
/* Where migrations say what they run, a line per revision as it starts, as
 * Alembic does: "Running upgrade 20261124_070112_9c0e -> 20261124_071640_3fa1,
 * add age field to User" (the first revision's parent is "<base>"; a merge
 * names both). fn NULL (the default): nowhere. The db commands print them. */
void corm_engine_set_info(corm_engine *e, corm_warn_fn fn, void *ud);
/* Where a long migration step says how far it is: a SQLite table rebuild
 * calls fn(ud, table, done, total) as it copies the rows (every 4096 rows;
 * the last call has done == total; an empty table none). fn NULL (the
 * default): nowhere. The db commands show it when stderr is a terminal. */
typedef void (*corm_progress_fn)(void *ud, const char *what, int64_t done, int64_t total);
void corm_engine_set_progress(corm_engine *e, corm_progress_fn fn, void *ud);

/* ---- events ------------------------------------------------------------------
 * Hooks, as SQLAlchemy's event system offers them: fn(s, obj, ud) runs
 * before or after the flush writes an object of the model (obj that
 * object), or before or after a commit, or after a rollback, of any
 * session of the engine (obj NULL). A before_* hook may change the
 * object's fields (a timestamp, a slug) and they are written; before_update
 * runs only for objects with changes. A hook that returns a negative
 * CORM_E* code refuses: the flush (or commit) fails with that code and a
 * sentence naming the model, the event and the object, and everything is as
 * after any failed flush (nothing written, the objects as the user left
 * them, the session usable). After a commit or a rollback there is nothing
 * left to refuse: an after_commit or after_rollback hook's code is what
 * corm_commit or corm_rollback returns, the transaction being already
 * ended. Hooks run on the session's thread, in the
 * order registered; they must not flush, commit, query or add through the
 * session that called them. A flush run again (a batch the database
 * refused, replayed row by row) runs its hooks again. Without hooks a flush
 * pays one test of a bit per object. Register before sessions run:
 * registration is not locked against them. CORM_ENOMEM, or CORM_EINVAL for
 * a model the engine does not know or a model given for a session event. */
typedef enum corm_event {
    CORM_BEFORE_INSERT = 1, CORM_AFTER_INSERT, CORM_BEFORE_UPDATE, CORM_AFTER_UPDATE,
    CORM_BEFORE_DELETE, CORM_AFTER_DELETE,
    CORM_BEFORE_COMMIT, CORM_AFTER_COMMIT, CORM_AFTER_ROLLBACK
} corm_event;
typedef int (*corm_event_fn)(corm_session *s, void *obj, void *ud);
int corm_listen_(corm_engine *e, corm_event ev, const corm_model *m, corm_event_fn fn, void *ud);
#define corm_listen(e, ev, M, fn, ud) corm_listen_((e), (ev), M##_model, (fn), (ud))
/* The session events (CORM_BEFORE_COMMIT, CORM_AFTER_COMMIT,
 * CORM_AFTER_ROLLBACK) have no model. */
#define corm_listen_session(e, ev, fn, ud) corm_listen_((e), (ev), NULL, (fn), (ud))

/* ---- printing ------------------------------------------------------------------ */

/* Write "<User id=1 username='marshal' ...>" into buf (size bytes, always
 * NUL-terminated); returns buf. Sensitive columns print as ***. */
char *corm_repr(const void *obj, char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* CORM_H */
