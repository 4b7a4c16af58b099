/*
 * mysql.c — the MariaDB / MySQL backend, over MariaDB Connector/C.
 *
 * A connection is a MYSQL handle opened from the URL's parts
 * (mysql://user:pass@host:port/db, a unix socket by ?unix_socket=/path),
 * with utf8mb4, the session time zone UTC, READ COMMITTED (as PostgreSQL's
 * default, so that a session's reads see what others committed, on every
 * backend), and a strict SQL mode: STRICT_ALL_TABLES, so that the server
 * refuses a value it would otherwise truncate or coerce (a string too
 * long, an invalid date stored as zeros); NO_BACKSLASH_ESCAPES, so that a
 * backslash in a literal is a backslash (corm's LIKE says ESCAPE '\', as
 * on the other backends); ANSI_QUOTES, so that raw SQL that quotes names
 * with double quotes runs here as it runs on SQLite and PostgreSQL.
 * CLIENT_FOUND_ROWS makes an UPDATE report the rows it matched, not only
 * those whose values changed (the flush counts them).
 *
 * Tables are made with utf8mb4_nopad_bin: MariaDB's default collations compare
 * case-insensitively and ignore trailing spaces (utf8mb4_bin too: it pads),
 * which would make corm_eq('Marshal') find 'marshal', and 'a ' find 'a',
 * here and not on the other backends. (MySQL 8 spells it utf8mb4_0900_bin.)
 *
 * A statement is a server-side prepared statement (the binary protocol),
 * its parameters bound from copies, its result stored on the client
 * (mysql_stmt_store_result) so that other statements can run while its rows
 * are read, unless its caller reads them all at once (read_all). Rows are
 * decoded here as they come (on_column, below): integers and doubles as
 * such, dates and times as their fields (or their text when asked), text,
 * decimals and blobs where they lie in the row. Keys of new rows come back
 * as the insert id, or through RETURNING (MariaDB 10.5+) when server
 * defaults must be read.
 *
 * Error numbers map to corm's codes; the server's own message is kept, and
 * the column it names becomes the error's detail ("table.column").
 */
#include "driver/driver.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/text.h"

#include <ctype.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct drv_conn {
    MYSQL *my;
    drv_stmt *open;          /* a SELECT whose rows are being read from the socket */
    int64_t changes;         /* rows the last statement changed (matched) */
    int64_t insert_id;
    bool lost;               /* a statement failed because the server went away */
    bool galera;             /* a Galera node (wsrep_on), asked when connected */
    bool in_txn;             /* inside a transaction the server said it began */
    bool ended;              /* the server rolled that transaction back (a deadlock, a
                                Galera abort): nothing more runs in it until ROLLBACK */
};

typedef struct my_param {
    enum enum_field_types type;
    int64_t i;
    double d;
    char *s;                 /* a copy of a text or blob (its buffer kept for the next) */
    unsigned long len, cap;
    my_bool is_null;
} my_param;

/* One parameter's values in a batch, a column of the array binding: cells
 * as Connector/C reads them (8-byte integers, doubles, or pointers to the
 * bytes of texts and blobs, which are offsets into the batch's bytes until
 * it runs), lengths and indicators (NULL or not) per row. */
typedef union my_cell {
    int64_t i;
    double d;
    char *p;
    size_t off;
} my_cell;
_Static_assert(sizeof(my_cell) == 8, "Connector/C reads arrays of 8-byte integers and pointers");

typedef struct my_column {
    enum enum_field_types type;
    bool typed;              /* type set by a row with a value */
    my_cell *v;
    unsigned long *len;
    char *ind;
} my_column;

/* A result column of the current row, as on_column decoded it. */
typedef struct my_col {
    enum enum_field_types type; /* as the server sends it */
    bool is_unsigned;
    corm_vkind kind;         /* what the column's type reads as (but NULL) */
    bool is_null;
    bool temporal;           /* a DATE, TIME or DATETIME: in tm */
    MYSQL_TIME tm;
    int64_t i;
    double d;
    const unsigned char *p;  /* text or bytes, where they are in the row (no NUL) */
    unsigned long len;
    char *buf;               /* a number or a time written as text, when asked */
} my_col;

struct drv_stmt {
    drv_conn *c;
    MYSQL_STMT *st;
    char *sql;               /* its text, to prepare it again after a failed run */
    unsigned long sql_len;
    bool readonly, executed, has_result;
    bool in_txn_only;        /* DML or SELECT: runs inside the transaction if one is open */
    bool stream;             /* this run's rows are read as they come (read_all) */
    bool dropped;            /* its rows were dropped for another command */
    int nparams, nfields;
    my_param *params;
    MYSQL_BIND *pb;
    my_col *cols;
    MYSQL_RES *meta;
    MYSQL_FIELD *fields;
    /* a batch (send/recv): rows sent, their columns and bytes; once run,
     * the rows read so far and what the run changed in all */
    size_t nbatch, capbatch, nread;
    my_column *batch;
    char *bytes;
    size_t nbytes, capbytes;
    bool ran;
    int64_t batch_changes;
};

/* ---- errors --------------------------------------------------------------------- */

static int map_errno(unsigned e)
{
    switch (e) {
    case ER_DUP_ENTRY:
    case ER_DUP_ENTRY_WITH_KEY_NAME: return CORM_EUNIQUE;
    case ER_NO_REFERENCED_ROW:
    case ER_NO_REFERENCED_ROW_2:
    case ER_ROW_IS_REFERENCED:
    case ER_ROW_IS_REFERENCED_2: return CORM_EFOREIGNKEY;
    case ER_BAD_NULL_ERROR: return CORM_ENOTNULL;
    case 4025: /* ER_CONSTRAINT_FAILED (MariaDB) */
    case 3819: /* ER_CHECK_CONSTRAINT_VIOLATED (MySQL) */ return CORM_ECHECK;
    case ER_DATA_TOO_LONG: return CORM_ETOOLONG;
    case ER_WARN_DATA_OUT_OF_RANGE: return CORM_ERANGE;
    case ER_TRUNCATED_WRONG_VALUE:
    case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD: return CORM_ETYPE;
    case ER_LOCK_DEADLOCK:
    case ER_LOCK_WAIT_TIMEOUT: return CORM_EBUSY;
    case ER_OPTION_PREVENTS_STATEMENT: return CORM_EREADONLY;
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case ER_CONNECTION_KILLED:
    case ER_SERVER_SHUTDOWN:
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR: return CORM_ECONNLOST;
    case ER_OUTOFMEMORY:
    case CR_OUT_OF_MEMORY: return CORM_ENOMEM;
    default: return CORM_ESQL;
    }
}

/* The text between the first pair of quotes q after `after` in msg. */
static bool quoted_after(const char *msg, const char *after, char q, char *out, size_t size)
{
    const char *p = after ? strstr(msg, after) : msg;
    const char *a = p ? strchr(p + (after ? strlen(after) : 0), q) : NULL;
    const char *b = a ? strchr(a + 1, q) : NULL;
    if (!a || !b || (size_t)(b - a - 1) >= size)
        return false;
    snprintf(out, size, "%.*s", (int)(b - a - 1), a + 1);
    return true;
}

/* Fill err from the server's error (errno, message): the column named, as
 * "table.column" in the detail. */
static int fail_with(drv_conn *c, unsigned e, const char *msg, const char *state, util_err *err)
{
    int code = map_errno(e);
    if (e == ER_UNKNOWN_COM_ERROR && strstr(msg, "WSREP"))
        code = CORM_EBUSY; /* a Galera node not (yet, or no longer) in the primary component */
    util_err_set(err, code, "mariadb: %s (error %u, SQLSTATE %s)", msg, e, state);
    char col[128] = "", table[128] = "";
    if (code == CORM_EUNIQUE) /* "for key 'username'": a column's UNIQUE is named by it */
        quoted_after(msg, "for key ", '\'', col, sizeof col);
    if (e == ER_BAD_NULL_ERROR || e == ER_DATA_TOO_LONG || e == ER_WARN_DATA_OUT_OF_RANGE ||
        e == ER_TRUNCATED_WRONG_VALUE_FOR_FIELD) {
        if (!quoted_after(msg, "olumn ", '\'', col, sizeof col))
            quoted_after(msg, "olumn ", '`', col, sizeof col);
    }
    /* "... fails (`db`.`post`, CONSTRAINT `x` FOREIGN KEY (`user_id`) REFERENCES ..." */
    if (code == CORM_EFOREIGNKEY && quoted_after(msg, "FOREIGN KEY (", '`', col, sizeof col)) {
        const char *t = strstr(msg, "`.`");
        if (t)
            quoted_after(t + 2, NULL, '`', table, sizeof table);
    }
    /* "CONSTRAINT `user.age` failed for `db`.`user`": a column's check is named by it */
    if (code == CORM_ECHECK && quoted_after(msg, "CONSTRAINT ", '`', col, sizeof col)) {
        const char *t = strstr(msg, "`.`");
        if (t)
            quoted_after(t + 2, NULL, '`', table, sizeof table);
    }
    if (col[0] && table[0])
        snprintf(err->detail, sizeof err->detail, "%s.%s", table, col);
    else if (col[0])
        snprintf(err->detail, sizeof err->detail, "%s", col);
    if (code == CORM_ECONNLOST)
        c->lost = true;
    if (e == ER_LOCK_DEADLOCK && c->in_txn) /* InnoDB rolled back the whole transaction */
        c->ended = true, c->in_txn = false;
    return code;
}

static int fail(drv_conn *c, util_err *err)
{
    return fail_with(c, mysql_errno(c->my), mysql_error(c->my), mysql_sqlstate(c->my), err);
}

static int fail_stmt(drv_stmt *st, util_err *err)
{
    if (!mysql_stmt_errno(st->st) && mysql_errno(st->c->my)) /* an array binding's error is the connection's */
        return fail(st->c, err);
    return fail_with(st->c, mysql_stmt_errno(st->st), mysql_stmt_error(st->st),
                     mysql_stmt_sqlstate(st->st), err);
}

/* ---- dialect ---------------------------------------------------------------------- */

static const char *const ddl_types[CORM_TYPE_MAX_] = {
    [CORM_TYPE_INTEGER] = "BIGINT", [CORM_TYPE_BIGINT] = "BIGINT", [CORM_TYPE_SMALLINT] = "SMALLINT",
    [CORM_TYPE_BOOLEAN] = "BOOLEAN", [CORM_TYPE_FLOAT] = "DOUBLE", [CORM_TYPE_NUMERIC] = "DECIMAL",
    [CORM_TYPE_STRING] = "VARCHAR", [CORM_TYPE_TEXT] = "LONGTEXT", [CORM_TYPE_DATE] = "DATE",
    [CORM_TYPE_TIME] = "TIME(6)", [CORM_TYPE_DATETIME] = "DATETIME(6)",
    [CORM_TYPE_BLOB] = "LONGBLOB", [CORM_TYPE_JSON] = "JSON",
    [CORM_TYPE_UUID] = "UUID", /* MariaDB 10.7 and later */
};

static const char *const params[] = { "unix_socket", "charset", "connect_timeout", "pool_size",
                                      "max_overflow", "pool_timeout", "wsrep_sync_wait", NULL };

/* ---- connections ------------------------------------------------------------------ */

#define SQL_MODE "STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO," \
                 "NO_ENGINE_SUBSTITUTION,NO_BACKSLASH_ESCAPES,ANSI_QUOTES"

static int ask_galera(drv_conn *c, const drv_url *url, util_err *err);
static unsigned server_status(drv_conn *c);

static int my_connect(const drv_url *url, drv_conn **out, util_err *err)
{
    drv_conn *c = util_calloc(1, sizeof *c);
    MYSQL *my = c ? mysql_init(NULL) : NULL;
    if (!my) {
        util_free(c);
        return util_err_set(err, CORM_ENOMEM, "out of memory connecting to %s", url->redacted);
    }
    const char *charset = drv_url_param(url, "charset");
    const char *timeout = drv_url_param(url, "connect_timeout");
    unsigned t = timeout ? (unsigned)atoi(timeout) : 10;
    mysql_optionsv(my, MYSQL_SET_CHARSET_NAME, charset ? charset : "utf8mb4");
    mysql_optionsv(my, MYSQL_OPT_CONNECT_TIMEOUT, &t);
    mysql_optionsv(my, MYSQL_INIT_COMMAND, "SET SESSION sql_mode = '" SQL_MODE "', "
                   "time_zone = '+00:00'");
    mysql_optionsv(my, MYSQL_INIT_COMMAND, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
    unsigned port = url->port ? (unsigned)atoi(url->port) : 0;
    const char *host = url->host && *url->host ? url->host : "localhost";
    if (!mysql_real_connect(my, host, url->user, url->password, url->database, port,
                            drv_url_param(url, "unix_socket"),
                            CLIENT_FOUND_ROWS | CLIENT_MULTI_STATEMENTS)) {
        /* the connector's message names host or socket, never the password */
        util_err_set(err, CORM_ECONNECT, "cannot connect to %s: %s", url->redacted, mysql_error(my));
        mysql_close(my);
        util_free(c);
        return err->code;
    }
    c->my = my;
    if (ask_galera(c, url, err) < 0) {
        mysql_close(my);
        util_free(c);
        return err->code;
    }
    *out = c;
    return CORM_OK;
}

/* The rows of a SELECT whose caller reads them all before anything else
 * (read_all: a query's objects, a relationship's eager load) are read from
 * the socket as they come: a scan of 100,000 users never sits in a client
 * buffer as well as in the objects made of them. The connection runs
 * nothing else meanwhile; a command that must run anyway (after the
 * caller gave up on the rows: an error, a rollback) first drops what is
 * left of them, and the statement says so if it is stepped again. */
static void drop_open(drv_conn *c)
{
    drv_stmt *st = c->open;
    if (!st)
        return;
    c->open = NULL;
    mysql_stmt_free_result(st->st);
    st->dropped = true;
}

static bool my_alive(drv_conn *c, bool ping)
{
    if (c->lost)
        return false;
    if (!ping) /* rows not yet read may be waiting: only end-of-file says lost */
        return drv_socket_peek((int)mysql_get_socket(c->my)) >= 0;
    drop_open(c);
    return mysql_ping(c->my) == 0;
}

static bool my_txn_failed(drv_conn *c) { return c->lost || c->ended; }

static void my_close(drv_conn *c)
{
    if (!c)
        return;
    mysql_close(c->my);
    util_free(c);
}

static int my_exec(drv_conn *c, const char *sql, util_err *err)
{
    drop_open(c);
    if (mysql_real_query(c->my, sql, strlen(sql)) != 0) {
        return fail(c, err);
    }
    /* read and drop any result, and the results of more statements */
    int more;
    do {
        MYSQL_RES *r = mysql_store_result(c->my);
        if (r)
            mysql_free_result(r);
        else if (mysql_field_count(c->my) == 0)
            c->changes = (int64_t)mysql_affected_rows(c->my);
        if ((more = mysql_next_result(c->my)) > 0)
            return fail(c, err);
    } while (more == 0);
    c->in_txn = server_status(c) & SERVER_STATUS_IN_TRANS;
    c->ended = c->ended && c->in_txn; /* a ROLLBACK ends what was ended */
    return CORM_OK;
}

/* ---- Galera -------------------------------------------------------------------------
 * A Galera cluster replicates row changes by certification on the primary
 * key, InnoDB tables only, and does not carry LOCK TABLES. What create_all
 * and the migrations would run is read for those before any of it runs. */

/* Whether the word occurs in sql outside quotes ('...', "...", `...`). */
static bool has_word(const char *sql, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = sql; *p; p++) {
        if (*p == '\'' || *p == '"' || *p == '`') {
            const char *e = strchr(p + 1, *p);
            if (!e)
                return false;
            p = e;
        } else if ((p == sql || !(isalnum((unsigned char)p[-1]) || p[-1] == '_')) &&
                   strncasecmp(p, word, n) == 0 && !isalnum((unsigned char)p[n]) && p[n] != '_') {
            return true;
        }
    }
    return false;
}

/* ENGINE = name in sql, other than InnoDB: its name in out. */
static bool other_engine(const char *sql, char *out, size_t size)
{
    for (const char *p = sql; *p; p++) {
        if ((p != sql && (isalnum((unsigned char)p[-1]) || p[-1] == '_')) ||
            strncasecmp(p, "ENGINE", 6) != 0)
            continue;
        const char *q = util_sql_skip_blank(p + 6);
        if (*q == '=')
            q = util_sql_skip_blank(q + 1);
        size_t n = 0;
        while (isalnum((unsigned char)q[n]) || q[n] == '_')
            n++;
        if (n && !(n == 6 && strncasecmp(q, "InnoDB", 6) == 0)) {
            snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), q);
            return true;
        }
    }
    return false;
}

/* Whether the server is a Galera node: asked once, when connected. A
 * Galera node applies another node's commit shortly after that commit
 * returned, so a read on this node could miss a row a user saw committed
 * through another one (a web request after the one that wrote it, routed
 * elsewhere). corm asks the node to wait for what the cluster committed
 * before each read (wsrep_sync_wait = 1, causal reads); the URL's
 * wsrep_sync_wait=N sets another of the server's masks (0: no wait). */
static int ask_galera(drv_conn *c, const drv_url *url, util_err *err)
{
    MYSQL *my = c->my;
    c->galera = false;
    if (mysql_real_query(my, "SELECT @@wsrep_on", 17) == 0) { /* MySQL has no wsrep_on */
        MYSQL_RES *r = mysql_store_result(my);
        MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
        c->galera = row && row[0] && (strcmp(row[0], "1") == 0 || strcasecmp(row[0], "ON") == 0);
        if (r)
            mysql_free_result(r);
    }
    const char *mask = drv_url_param(url, "wsrep_sync_wait");
    char *end = NULL;
    long n = mask ? strtol(mask, &end, 10) : 1;
    if (mask && (end == mask || *end || n < 0 || n > 15))
        return util_err_set(err, CORM_EURL, "%s: wsrep_sync_wait must be a number from 0 to 15, "
                            "not '%s'", url->redacted, mask);
    if (!c->galera)
        return CORM_OK;
    char sql[48];
    int len = snprintf(sql, sizeof sql, "SET SESSION wsrep_sync_wait = %ld", n);
    if (mysql_real_query(my, sql, (unsigned long)len) != 0)
        return util_err_set(err, CORM_ECONNECT, "cannot set wsrep_sync_wait on %s: %s",
                            url->redacted, mysql_error(my));
    return CORM_OK;
}

static unsigned server_status(drv_conn *c)
{
    unsigned status = 0;
    mariadb_get_infov(c->my, MARIADB_CONNECTION_SERVER_STATUS, &status);
    return status;
}

/* After a statement ran: CORM_EBUSY when it was to run inside the
 * transaction corm began and the server says no transaction is open any
 * more. A Galera node ends a transaction that conflicts with one committed
 * on another node (a brute-force abort); the statement after it should
 * fail with "Deadlock found", but a SELECT ... FOR UPDATE may instead
 * return no rows, as if the row were gone. */
static int check_txn(drv_stmt *st, util_err *err)
{
    drv_conn *c = st->c;
    bool open = server_status(c) & SERVER_STATUS_IN_TRANS;
    if (!st->in_txn_only || !c->in_txn || open) {
        c->in_txn = open;
        return CORM_OK;
    }
    c->in_txn = false;
    c->ended = true;
    return util_err_set(err, CORM_EBUSY, "mariadb: the server ended the transaction while the "
                        "statement ran (a Galera node aborts one that conflicts with a commit on "
                        "another node): it was rolled back, run it again");
}

static int my_refuses_ddl(drv_conn *c, const char *sql, util_err *err)
{
    const char *start = util_sql_skip_blank(sql), *name = start;
    bool lock = util_sql_take_word(&name, "LOCK") && (util_sql_take_word(&name, "TABLE") || util_sql_take_word(&name, "TABLES"));
    bool create = false, alter = false;
    if (!lock) {
        name = start;
        create = util_sql_take_word(&name, "CREATE") && (!util_sql_take_word(&name, "OR") || util_sql_take_word(&name, "REPLACE")) &&
                 util_sql_take_word(&name, "TABLE");
    }
    if (!lock && !create) {
        name = start;
        alter = util_sql_take_word(&name, "ALTER") && util_sql_take_word(&name, "TABLE");
    }
    if ((!lock && !create && !alter) || !c->galera)
        return CORM_OK;
    /* name: the table's name, then the rest of the statement */
    int n = (int)strcspn(name, " \t\n(");
    char engine[32];
    if (lock)
        return util_err_set(err, CORM_EUNSUPPORTED, "a Galera cluster does not replicate explicit "
                            "table locks (LOCK TABLES %.*s): a transaction's row locks, with "
                            "corm_run_in_transaction retrying conflicts, serve instead", n, name);
    if (other_engine(name, engine, sizeof engine))
        return util_err_set(err, CORM_EUNSUPPORTED, "a Galera cluster replicates InnoDB tables "
                            "only: %s TABLE %.*s asks for ENGINE=%s", create ? "CREATE" : "ALTER",
                            n, name, engine);
    if (create && !has_word(name, "PRIMARY"))
        return util_err_set(err, CORM_EUNSUPPORTED, "a Galera cluster replicates rows by their "
                            "primary key: CREATE TABLE %.*s has none (give it a PRIMARY KEY)",
                            n, name);
    if (alter && has_word(name, "DROP") && has_word(name, "PRIMARY") && !has_word(name, "ADD"))
        return util_err_set(err, CORM_EUNSUPPORTED, "a Galera cluster replicates rows by their "
                            "primary key: ALTER TABLE %.*s drops it and adds none", n, name);
    return CORM_OK;
}

/* The word a statement starts with that the server commits the open
 * transaction before running (DDL, table locks, grants, table
 * maintenance); NULL for any other (drv_driver.commits_first). */
static const char *my_commits_first(const char *sql)
{
    /* unless: a temporary table's commit nothing; only: ANALYZE of a query
     * neither */
    static const struct { const char *word, *unless, *only; } stmts[] = {
        { "CREATE", "TEMPORARY", NULL }, { "DROP", "TEMPORARY", NULL }, { "ALTER", NULL, NULL },
        { "RENAME", NULL, NULL }, { "TRUNCATE", NULL, NULL }, { "LOCK", NULL, NULL },
        { "UNLOCK", NULL, NULL }, { "GRANT", NULL, NULL }, { "REVOKE", NULL, NULL },
        { "ANALYZE", NULL, "TABLE" }, { "OPTIMIZE", NULL, "TABLE" }, { "REPAIR", NULL, "TABLE" },
        { "FLUSH", NULL, NULL }, { "INSTALL", NULL, NULL }, { "UNINSTALL", NULL, NULL },
    };
    const char *p = util_sql_skip_blank(sql);
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
        if (!util_sql_take_word(&p, stmts[i].word))
            continue;
        if ((stmts[i].unless && util_sql_take_word(&p, stmts[i].unless)) ||
            (stmts[i].only && !util_sql_take_word(&p, stmts[i].only)))
            return NULL;
        return stmts[i].word;
    }
    return NULL;
}

/* ---- statements ------------------------------------------------------------------- */

static bool starts_with_word(const char *sql, size_t len, const char *word)
{
    while (len && (*sql == ' ' || *sql == '\n' || *sql == '\t' || *sql == '(')) {
        sql++;
        len--;
    }
    size_t n = strlen(word);
    return len >= n && strncasecmp(sql, word, n) == 0 &&
           (len == n || !(sql[n] == '_' || (sql[n] >= 'a' && sql[n] <= 'z') ||
                          (sql[n] >= 'A' && sql[n] <= 'Z') || (sql[n] >= '0' && sql[n] <= '9')));
}

static void free_stmt(drv_stmt *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->nparams && st->params; i++)
        util_free(st->params[i].s);
    for (int i = 0; i < st->nparams && st->batch; i++) {
        util_free(st->batch[i].v);
        util_free(st->batch[i].len);
        util_free(st->batch[i].ind);
    }
    util_free(st->batch);
    util_free(st->bytes);
    for (int i = 0; i < st->nfields && st->cols; i++)
        util_free(st->cols[i].buf);
    if (st->meta)
        mysql_free_result(st->meta);
    if (st->st)
        mysql_stmt_close(st->st);
    util_free(st->params);
    util_free(st->pb);
    util_free(st->cols);
    util_free(st->sql);
    util_free(st);
}

/* ---- rows: decoded as they come ---------------------------------------------------
 *
 * Connector/C would convert each column of a row into a buffer bound for
 * it (mysql_stmt_bind_result): a call per column through its conversion
 * table and a copy of every text, 600 instructions for a row of four
 * columns, more than all that corm then does with the row. The driver
 * reads the row as it came instead: a result callback (STMT_ATTR_CB_RESULT,
 * Connector/C 3.1 and later) is handed each column's bytes in the binary
 * protocol and decodes them here: integers and doubles from their
 * little-endian bytes, dates and times from their packed fields, text and
 * bytes left where they are in the row, which stays until the next fetch
 * (driver.h: text is valid until the next step, and has no NUL). */

/* Little-endian integers of 2, 4 and 8 bytes (each one load on x86 and ARM). */
static inline uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t le64(const unsigned char *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

/* A length-encoded integer (the length of a text, bytes or packed time). */
static unsigned long wire_length(const unsigned char **p)
{
    const unsigned char *q = *p;
    if (q[0] < 251) { /* most */
        *p = q + 1;
        return q[0];
    }
    *p = q + (q[0] == 252 ? 3 : q[0] == 253 ? 4 : 9);
    return q[0] == 252 ? le16(q + 1)
         : q[0] == 253 ? (le32(q + 1) & 0xffffff)
                       : (unsigned long)le64(q + 1);
}

/* A DATE/DATETIME (year 2, month, day[, hour, minute, second[, usec 4]])
 * or TIME (negative, days 4, hour, minute, second[, usec 4]) of n bytes. */
static void wire_time(my_col *c, const unsigned char *p, unsigned long n)
{
    memset(&c->tm, 0, sizeof c->tm);
    if (c->type == MYSQL_TYPE_TIME) {
        if (n >= 8) {
            c->tm.neg = p[0] != 0;
            c->tm.hour = le32(p + 1) * 24 + p[5];
            c->tm.minute = p[6];
            c->tm.second = p[7];
        }
        if (n >= 12)
            c->tm.second_part = le32(p + 8);
        c->tm.time_type = MYSQL_TIMESTAMP_TIME;
        return;
    }
    if (n >= 4) {
        c->tm.year = le16(p);
        c->tm.month = p[2];
        c->tm.day = p[3];
    }
    if (n >= 7) {
        c->tm.hour = p[4];
        c->tm.minute = p[5];
        c->tm.second = p[6];
    }
    if (n >= 11)
        c->tm.second_part = le32(p + 7);
}

/* Column i of the row being fetched: *row at its bytes (NULL: a SQL
 * NULL, which has none), moved past them. */
static void on_column(void *data, unsigned int i, unsigned char **row)
{
    my_col *c = &((drv_stmt *)data)->cols[i];
    if (!row) {
        c->is_null = true;
        c->i = 0;
        c->d = 0;
        c->len = 0;
        return;
    }
    c->is_null = false;
    const unsigned char *p = *row;
    switch (c->type) {
    case MYSQL_TYPE_LONGLONG: /* an unsigned BIGINT past INT64_MAX wraps, as a cast would */
        c->i = (int64_t)le64(p);
        *row += 8;
        return;
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_INT24:
        c->i = c->is_unsigned ? (int64_t)le32(p) : (int64_t)(int32_t)le32(p);
        *row += 4;
        return;
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_YEAR:
        c->i = c->is_unsigned ? (int64_t)le16(p) : (int64_t)(int16_t)le16(p);
        *row += 2;
        return;
    case MYSQL_TYPE_TINY:
        c->i = c->is_unsigned ? (int64_t)p[0] : (int64_t)(int8_t)p[0];
        *row += 1;
        return;
    case MYSQL_TYPE_DOUBLE: {
        uint64_t b = le64(p);
        memcpy(&c->d, &b, sizeof c->d);
        *row += 8;
        return;
    }
    case MYSQL_TYPE_FLOAT: {
        uint32_t b = le32(p);
        float f;
        memcpy(&f, &b, sizeof f);
        c->d = f;
        *row += 4;
        return;
    }
    default: { /* its length, then its bytes */
        unsigned long len = wire_length(&p);
        if (c->temporal)
            wire_time(c, p, len);
        c->p = p;
        c->len = len;
        *row = (unsigned char *)(uintptr_t)(p + len);
        return;
    }
    }
}

/* The columns' kinds from the types the server sends this run's rows in
 * (the statement's own description: the one of its preparation can be
 * older, a type the parameters' values changed), read after each execute. */
static void column_kinds(drv_stmt *st)
{
    const MYSQL_FIELD *fields = st->st->fields;
    for (int i = 0; i < st->nfields; i++) {
        const MYSQL_FIELD *f = &fields[i];
        my_col *col = &st->cols[i];
        enum enum_field_types type = f->type == MYSQL_TYPE_TIMESTAMP ? MYSQL_TYPE_DATETIME : f->type;
        bool is_unsigned = (f->flags & UNSIGNED_FLAG) != 0;
        if (col->kind && col->type == type && col->is_unsigned == is_unsigned) /* as the last run */
            continue;
        col->type = type;
        col->is_unsigned = is_unsigned;
        col->temporal = false;
        switch (f->type) {
        case MYSQL_TYPE_TINY:
        case MYSQL_TYPE_SHORT:
        case MYSQL_TYPE_YEAR:
        case MYSQL_TYPE_LONG:
        case MYSQL_TYPE_INT24:
        case MYSQL_TYPE_LONGLONG: col->kind = CORM_V_INT; break;
        case MYSQL_TYPE_FLOAT:
        case MYSQL_TYPE_DOUBLE: col->kind = CORM_V_FLOAT; break;
        case MYSQL_TYPE_DATE:
        case MYSQL_TYPE_TIME:
        case MYSQL_TYPE_DATETIME:
        case MYSQL_TYPE_TIMESTAMP: /* read as text unless asked as a date (column_datetime) */
            col->kind = CORM_V_TEXT;
            col->temporal = true;
            break;
        default: /* bytes when binary (charset 63), else text; a BIT's bytes too */
            col->kind = f->charsetnr == 63 && f->type != MYSQL_TYPE_BIT &&
                                f->type != MYSQL_TYPE_NEWDECIMAL && f->type != MYSQL_TYPE_DECIMAL
                            ? CORM_V_BLOB
                            : CORM_V_TEXT;
            break;
        }
    }
}

/* Rows read by on_column from the next fetch on. */
static int bind_results(drv_stmt *st)
{
    return mysql_stmt_attr_set(st->st, STMT_ATTR_CB_USER_DATA, st) ||
                   mysql_stmt_attr_set(st->st, STMT_ATTR_CB_RESULT, (const void *)on_column)
               ? CORM_ESQL
               : CORM_OK;
}

static int my_prepare(drv_conn *c, const char *sql, size_t len, drv_stmt **out, util_err *err)
{
    drv_stmt *st = util_calloc(1, sizeof *st);
    if (!st)
        return util_err_set(err, CORM_ENOMEM, "out of memory preparing a statement");
    st->c = c;
    st->readonly = starts_with_word(sql, len, "SELECT") || starts_with_word(sql, len, "SHOW") ||
                   starts_with_word(sql, len, "VALUES");
    st->in_txn_only = st->readonly || starts_with_word(sql, len, "INSERT") ||
                      starts_with_word(sql, len, "UPDATE") || starts_with_word(sql, len, "DELETE") ||
                      starts_with_word(sql, len, "REPLACE") || starts_with_word(sql, len, "WITH");
    if (!(st->sql = util_strndup(sql, len)) || !(st->st = mysql_stmt_init(c->my))) {
        free_stmt(st);
        return util_err_set(err, CORM_ENOMEM, "out of memory preparing a statement");
    }
    st->sql_len = (unsigned long)len;
    drop_open(c);
    if (mysql_stmt_prepare(st->st, sql, (unsigned long)len) != 0) {
        int rc = fail_stmt(st, err);
        free_stmt(st);
        return rc;
    }
    st->nparams = (int)mysql_stmt_param_count(st->st);
    st->nfields = (int)mysql_stmt_field_count(st->st);
    size_t np = st->nparams ? (size_t)st->nparams : 1, nf = st->nfields ? (size_t)st->nfields : 1;
    if (!(st->params = util_calloc(np, sizeof *st->params)) ||
        !(st->pb = util_calloc(np, sizeof *st->pb)) ||
        !(st->cols = util_calloc(nf, sizeof *st->cols))) {
        free_stmt(st);
        return util_err_set(err, CORM_ENOMEM, "out of memory preparing a statement");
    }
    for (int i = 0; i < st->nparams; i++)
        st->params[i].is_null = 1;
    if (st->nfields) {
        st->meta = mysql_stmt_result_metadata(st->st);
        st->fields = st->meta ? mysql_fetch_fields(st->meta) : NULL;
        if (!st->fields || bind_results(st) < 0) {
            free_stmt(st);
            return util_err_set(err, CORM_ENOMEM, "out of memory preparing a statement");
        }
    }
    *out = st;
    return CORM_OK;
}

static void my_reset(drv_stmt *st)
{
    if (!st)
        return;
    if (st->executed) {
        if (st->c->open == st) /* the rest of its rows are read and dropped */
            st->c->open = NULL;
        else /* Connector/C would take another statement's rows for this one's */
            drop_open(st->c);
        mysql_stmt_free_result(st->st);
        st->executed = false;
    }
    st->stream = st->dropped = false;
}

static void my_finalize(drv_stmt *st)
{
    if (st) {
        my_reset(st);
        drop_open(st->c);
    }
    free_stmt(st);
}

static void my_read_all(drv_stmt *st) { st->stream = st->readonly && !st->executed; }

static my_param *param(drv_stmt *st, int i)
{
    if (i < 1 || i > st->nparams)
        return NULL;
    my_param *p = &st->params[i - 1];
    p->is_null = 0;
    return p;
}

static int my_bind_null(drv_stmt *st, int i)
{
    my_param *p = param(st, i);
    if (!p)
        return CORM_EINVAL;
    p->is_null = 1;
    p->type = MYSQL_TYPE_NULL;
    return CORM_OK;
}

static int my_bind_int(drv_stmt *st, int i, int64_t v)
{
    my_param *p = param(st, i);
    if (!p)
        return CORM_EINVAL;
    p->type = MYSQL_TYPE_LONGLONG;
    p->i = v;
    return CORM_OK;
}

static int my_bind_double(drv_stmt *st, int i, double v)
{
    my_param *p = param(st, i);
    if (!p)
        return CORM_EINVAL;
    p->type = MYSQL_TYPE_DOUBLE;
    p->d = v;
    return CORM_OK;
}

static int bind_bytes(drv_stmt *st, int i, const void *s, size_t n, enum enum_field_types t)
{
    my_param *p = param(st, i);
    if (!p)
        return CORM_EINVAL;
    if (!p->s || p->cap < n) {
        char *s2 = util_realloc(p->s, n + 1);
        if (!s2)
            return CORM_ENOMEM;
        p->s = s2;
        p->cap = (unsigned long)n;
    }
    if (n)
        memcpy(p->s, s, n);
    p->s[n] = '\0';
    p->len = (unsigned long)n;
    p->type = t;
    return CORM_OK;
}

static int my_bind_text(drv_stmt *st, int i, const char *s, size_t n)
{
    return bind_bytes(st, i, s, n, MYSQL_TYPE_STRING);
}

static int my_bind_blob(drv_stmt *st, int i, const void *s, size_t n)
{
    return bind_bytes(st, i, s, n, MYSQL_TYPE_BLOB);
}

/* Forget the result columns (their buffers, binding and description). */
static void drop_results(drv_stmt *st)
{
    for (int i = 0; i < st->nfields && st->cols; i++)
        util_free(st->cols[i].buf);
    if (st->meta)
        mysql_free_result(st->meta);
    memset(st->cols, 0, (st->nfields ? (size_t)st->nfields : 1) * sizeof *st->cols);
    st->meta = NULL;
    st->fields = NULL;
    st->nfields = 0;
}

/* A run failed: the error told, and the statement prepared anew, for
 * Connector/C may otherwise wait, at the next run, for an answer the server
 * never sends. */
static int failed_run(drv_stmt *st, util_err *err)
{
    int rc = fail_stmt(st, err);
    st->executed = false;
    if (st->c->open == st)
        st->c->open = NULL;
    drop_open(st->c);
    MYSQL_STMT *fresh = st->c->lost ? NULL : mysql_stmt_init(st->c->my);
    if (fresh && mysql_stmt_prepare(fresh, st->sql, st->sql_len) == 0) {
        mysql_stmt_close(st->st);
        st->st = fresh;
        drop_results(st); /* bound again at the next run */
    } else if (fresh) {
        mysql_stmt_close(fresh);
    }
    return rc;
}

/* A statement prepared before its tables were dropped and made again: a
 * plain execute the server prepares again by itself, an array binding it
 * refuses (error 1615). Prepared again from its text, with its result
 * bound as before; false when that fails or it is not this error. */
static bool reprepared(drv_stmt *st)
{
    if (mysql_stmt_errno(st->st) != ER_NEED_REPREPARE && mysql_errno(st->c->my) != ER_NEED_REPREPARE)
        return false;
    return mysql_stmt_prepare(st->st, st->sql, st->sql_len) == 0 &&
           (int)mysql_stmt_param_count(st->st) == st->nparams &&
           (int)mysql_stmt_field_count(st->st) == st->nfields &&
           (!st->nfields || !st->meta || bind_results(st) == CORM_OK);
}

static int execute(drv_stmt *st, util_err *err)
{
    drop_open(st->c);
    for (int i = 0; i < st->nparams; i++) {
        my_param *p = &st->params[i];
        MYSQL_BIND *b = &st->pb[i];
        memset(b, 0, sizeof *b);
        b->buffer_type = p->is_null ? MYSQL_TYPE_NULL : p->type;
        b->is_null = &p->is_null;
        switch (p->type) {
        case MYSQL_TYPE_LONGLONG: b->buffer = &p->i; break;
        case MYSQL_TYPE_DOUBLE: b->buffer = &p->d; break;
        default:
            b->buffer = p->s;
            b->buffer_length = p->len;
            b->length = &p->len;
            break;
        }
    }
    if (((st->nparams && mysql_stmt_bind_param(st->st, st->pb)) || mysql_stmt_execute(st->st)) &&
        (!reprepared(st) || (st->nparams && mysql_stmt_bind_param(st->st, st->pb)) ||
         mysql_stmt_execute(st->st)))
        return failed_run(st, err);
    st->executed = true;
    /* INSERT ... RETURNING tells its columns only once it ran */
    int nf = (int)mysql_stmt_field_count(st->st);
    if (nf && !st->meta) {
        my_col *cols = util_calloc((size_t)nf, sizeof *cols);
        if (!cols)
            return util_err_set(err, CORM_ENOMEM, "out of memory reading a result");
        drop_results(st);
        util_free(st->cols);
        st->cols = cols;
        st->nfields = nf;
        st->meta = mysql_stmt_result_metadata(st->st);
        st->fields = st->meta ? mysql_fetch_fields(st->meta) : NULL;
        if (!st->fields || bind_results(st) < 0)
            return util_err_set(err, CORM_ENOMEM, "out of memory reading a result");
    }
    if (st->nfields)
        column_kinds(st);
    if (st->nfields && st->stream) {
        st->c->open = st; /* read as they come: drop_open */
        st->c->changes = 0;
    } else if (st->nfields) {
        if (mysql_stmt_store_result(st->st)) /* INSERT ... RETURNING fails here */
            return failed_run(st, err);
        st->c->changes = 0;
        if (!st->readonly) /* a SELECT's rows are checked at their end */
            return check_txn(st, err);
    } else {
        st->c->changes = (int64_t)mysql_stmt_affected_rows(st->st);
        st->c->insert_id = (int64_t)mysql_stmt_insert_id(st->st);
        return check_txn(st, err);
    }
    return CORM_OK;
}

static char *put_digits(char *p, unsigned v, int n)
{
    for (int k = n - 1; k >= 0; k--, v /= 10)
        p[k] = (char)('0' + v % 10);
    return p + n;
}

/* A MYSQL_TIME as corm's text: "YYYY-MM-DD HH:MM:SS.ffffff", "YYYY-MM-DD",
 * "HH:MM:SS.ffffff" (buf: 40 bytes at least); its length. */
static unsigned long format_time(char *buf, const MYSQL_TIME *t, enum enum_field_types type)
{
    char *p = buf;
    if (type != MYSQL_TYPE_TIME) {
        p = put_digits(p, t->year, 4);
        *p++ = '-';
        p = put_digits(p, t->month, 2);
        *p++ = '-';
        p = put_digits(p, t->day, 2);
        if (type == MYSQL_TYPE_DATE) {
            *p = '\0';
            return (unsigned long)(p - buf);
        }
        *p++ = ' ';
    } else if (t->neg) {
        *p++ = '-';
    }
    p = put_digits(p, t->hour, t->hour > 99 ? 3 : 2);
    *p++ = ':';
    p = put_digits(p, t->minute, 2);
    *p++ = ':';
    p = put_digits(p, t->second, 2);
    *p++ = '.';
    p = put_digits(p, (unsigned)t->second_part, 6);
    *p = '\0';
    return (unsigned long)(p - buf);
}

static int my_step(drv_stmt *st, util_err *err)
{
    int rc;
    if (!st->executed && (rc = execute(st, err)) < 0)
        return rc;
    if (!st->nfields)
        return 0;
    if (st->dropped)
        return util_err_set(err, CORM_ESTATE, "mariadb: the rest of the rows were dropped when "
                            "another statement ran");
    int f = mysql_stmt_fetch(st->st); /* on_column decodes it */
    if (f == MYSQL_NO_DATA) {
        if (st->c->open == st)
            st->c->open = NULL;
        return check_txn(st, err);
    }
    if (f != 0)
        return failed_run(st, err);
    return 1;
}

/* ---- batches: array binding -----------------------------------------------------
 *
 * send copies the parameters as bound now into the batch, a row of one
 * column array per parameter; the first recv runs every row with one
 * execute (STMT_ATTR_ARRAY_SIZE: MariaDB's COM_STMT_BULK_EXECUTE, a single
 * round trip), and each recv then takes one row's part. The server says
 * only what the whole run changed: when that is a row per row sent (an
 * UPDATE or DELETE by key), each row's change count is 1, and -1 when
 * fewer (driver.h). Statements that return rows or keys are not sent so. */

static int grow_batch(drv_stmt *st)
{
    size_t cap = st->capbatch ? st->capbatch * 2 : 64;
    if (!st->batch && !(st->batch = util_calloc((size_t)st->nparams, sizeof *st->batch)))
        return CORM_ENOMEM;
    for (int j = 0; j < st->nparams; j++) {
        my_column *k = &st->batch[j];
        my_cell *v = util_realloc(k->v, cap * sizeof *v);
        if (v)
            k->v = v;
        unsigned long *len = v ? util_realloc(k->len, cap * sizeof *len) : NULL;
        if (len)
            k->len = len;
        char *ind = len ? util_realloc(k->ind, cap) : NULL;
        if (!ind)
            return CORM_ENOMEM;
        k->ind = ind;
    }
    st->capbatch = cap;
    return CORM_OK;
}

static int my_send(drv_stmt *st, util_err *err)
{
    if (st->nfields || (st->ran && st->nread < st->nbatch))
        return util_err_set(err, CORM_EINVAL, "mariadb: a statement with rows to read or "
                            "results outstanding cannot be sent in a batch");
    if (!st->nparams)
        return util_err_set(err, CORM_EINVAL, "mariadb: a batch needs parameters");
    if (st->nbatch == st->capbatch && grow_batch(st) < 0)
        return util_err_set(err, CORM_ENOMEM, "out of memory sending a batch");
    size_t r = st->nbatch;
    for (int j = 0; j < st->nparams; j++) {
        my_param *p = &st->params[j];
        my_column *k = &st->batch[j];
        if (r == 0)
            k->typed = false;
        k->v[r].i = 0;
        k->len[r] = 0;
        if (p->is_null) {
            k->ind[r] = STMT_INDICATOR_NULL;
            continue;
        }
        k->ind[r] = STMT_INDICATOR_NONE;
        if (k->typed && k->type != p->type)
            return util_err_set(err, CORM_EINVAL, "mariadb: a batch binds parameter %d as two "
                                "types", j + 1);
        k->type = p->type;
        k->typed = true;
        if (p->type == MYSQL_TYPE_LONGLONG) {
            k->v[r].i = p->i;
        } else if (p->type == MYSQL_TYPE_DOUBLE) {
            k->v[r].d = p->d;
        } else {
            if (st->nbytes + p->len > st->capbytes) {
                size_t cap = st->capbytes * 2 > st->nbytes + p->len ? st->capbytes * 2
                                                                     : st->nbytes + p->len + 4096;
                char *bytes = util_realloc(st->bytes, cap);
                if (!bytes)
                    return util_err_set(err, CORM_ENOMEM, "out of memory sending a batch");
                st->bytes = bytes;
                st->capbytes = cap;
            }
            if (p->len)
                memcpy(st->bytes + st->nbytes, p->s, p->len);
            k->v[r].off = st->nbytes;
            k->len[r] = p->len;
            st->nbytes += p->len;
        }
    }
    st->nbatch++;
    return CORM_OK;
}

/* Row r of the batch bound as a plain execute's parameters. */
static void bind_row(drv_stmt *st, size_t r)
{
    for (int j = 0; j < st->nparams; j++) {
        my_column *k = &st->batch[j];
        MYSQL_BIND *b = &st->pb[j];
        memset(b, 0, sizeof *b);
        if (k->ind[r] == STMT_INDICATOR_NULL) {
            b->buffer_type = MYSQL_TYPE_NULL;
        } else if (k->type == MYSQL_TYPE_LONGLONG || k->type == MYSQL_TYPE_DOUBLE) {
            b->buffer_type = k->type;
            b->buffer = &k->v[r];
        } else {
            b->buffer_type = k->type;
            b->buffer = st->bytes + k->v[r].off;
            b->buffer_length = k->len[r];
            b->length = &k->len[r];
        }
    }
}

/* Run the rows sent as one execute; on a Galera node, one execute a row:
 * a node that aborted the transaction (a conflict with another node's
 * commit) fails the next plain execute, but runs a bulk one outside any
 * transaction, committing it on its own. */
static int run_batch(drv_stmt *st, util_err *err)
{
    unsigned int n = (unsigned int)st->nbatch, zero = 0;
    drop_open(st->c);
    if (st->c->galera) {
        st->batch_changes = 0;
        for (size_t r = 0; r < st->nbatch; r++) {
            bind_row(st, r);
            if ((mysql_stmt_bind_param(st->st, st->pb) || mysql_stmt_execute(st->st)) &&
                (!reprepared(st) || mysql_stmt_bind_param(st->st, st->pb) ||
                 mysql_stmt_execute(st->st)))
                return failed_run(st, err);
            int rc = check_txn(st, err);
            if (rc < 0)
                return rc;
            st->batch_changes += (int64_t)mysql_stmt_affected_rows(st->st);
        }
        return CORM_OK;
    }
    for (int j = 0; j < st->nparams; j++) {
        my_column *k = &st->batch[j];
        MYSQL_BIND *b = &st->pb[j];
        memset(b, 0, sizeof *b);
        b->buffer_type = k->typed ? k->type : MYSQL_TYPE_LONGLONG;
        b->buffer = k->v;
        b->u.indicator = k->ind;
        if (k->typed && k->type != MYSQL_TYPE_LONGLONG && k->type != MYSQL_TYPE_DOUBLE) {
            for (size_t r = 0; r < st->nbatch; r++)
                k->v[r].p = k->ind[r] == STMT_INDICATOR_NULL ? NULL : st->bytes + k->v[r].off;
            b->length = k->len;
        }
    }
    int rc = CORM_OK;
    if ((mysql_stmt_attr_set(st->st, STMT_ATTR_ARRAY_SIZE, &n) ||
         mysql_stmt_bind_param(st->st, st->pb) || mysql_stmt_execute(st->st)) &&
        (!reprepared(st) || mysql_stmt_attr_set(st->st, STMT_ATTR_ARRAY_SIZE, &n) ||
         mysql_stmt_bind_param(st->st, st->pb) || mysql_stmt_execute(st->st)))
        rc = failed_run(st, err);
    else
        st->batch_changes = (int64_t)mysql_stmt_affected_rows(st->st);
    mysql_stmt_attr_set(st->st, STMT_ATTR_ARRAY_SIZE, &zero);
    return rc == CORM_OK ? check_txn(st, err) : rc;
}

static int my_recv(drv_stmt *st, util_err *err)
{
    if (!st->nbatch || (st->ran && st->nread == st->nbatch))
        return util_err_set(err, CORM_EINVAL, "mariadb: no result outstanding");
    if (!st->ran) {
        int rc = run_batch(st, err);
        st->nbytes = 0;
        if (rc < 0) { /* the rest are dropped */
            st->nbatch = 0;
            return rc;
        }
        st->ran = true;
        st->nread = 0;
    }
    st->c->changes = st->batch_changes == (int64_t)st->nbatch ? 1 : -1;
    if (++st->nread == st->nbatch) /* all read: the next send starts a batch */
        st->nbatch = st->nread = 0, st->ran = false;
    return 0;
}

static bool my_stmt_readonly(drv_stmt *st) { return st->readonly; }
static int my_column_count(drv_stmt *st) { return st->nfields; }
static int64_t my_row_count(drv_stmt *st)
{
    return st->executed && st->nfields && !st->stream ? (int64_t)mysql_stmt_num_rows(st->st) : -1;
}
static const char *my_column_name(drv_stmt *st, int i) { return st->fields[i].name; }

static const char *my_column_text(drv_stmt *st, int i, size_t *len)
{
    my_col *c = &st->cols[i];
    if (c->is_null) {
        *len = 0;
        return "";
    }
    if (c->kind != CORM_V_INT && c->kind != CORM_V_FLOAT && !c->temporal) {
        *len = c->len;
        return (const char *)c->p;
    }
    /* a number or a time read as text: written into the column's buffer */
    if (!c->buf && !(c->buf = util_malloc(48))) {
        *len = 0;
        return NULL;
    }
    *len = c->temporal ? format_time(c->buf, &c->tm, c->type)
         : c->kind == CORM_V_INT
             ? (size_t)snprintf(c->buf, 48, c->is_unsigned ? "%llu" : "%lld", (long long)c->i)
             : (size_t)snprintf(c->buf, 48, "%.17g", c->d);
    return c->buf;
}

/* A text column read as a number (its text has no NUL). */
static const char *number_text(drv_stmt *st, int i, char *tmp, size_t size)
{
    size_t n;
    const char *s = my_column_text(st, i, &n);
    if (!s || n >= size)
        n = 0;
    memcpy(tmp, s ? s : "", n);
    tmp[n] = '\0';
    return tmp;
}

static int64_t my_column_int(drv_stmt *st, int i)
{
    my_col *c = &st->cols[i];
    char tmp[64];
    return c->kind == CORM_V_FLOAT ? (int64_t)c->d
         : c->kind == CORM_V_INT   ? c->i
                                   : strtoll(number_text(st, i, tmp, sizeof tmp), NULL, 10);
}

static double my_column_double(drv_stmt *st, int i)
{
    my_col *c = &st->cols[i];
    char tmp[400];
    return c->kind == CORM_V_FLOAT ? c->d
         : c->kind == CORM_V_INT   ? (c->is_unsigned ? (double)(uint64_t)c->i : (double)c->i)
                                   : strtod(number_text(st, i, tmp, sizeof tmp), NULL);
}

static bool my_column_datetime(drv_stmt *st, int i, corm_datetime *out)
{
    const my_col *c = &st->cols[i];
    if (!c->temporal || c->is_null)
        return false;
    memset(out, 0, sizeof *out); /* its padding too: objects are copied whole */
    out->date.year = (int32_t)c->tm.year;
    out->date.month = (uint8_t)c->tm.month;
    out->date.day = (uint8_t)c->tm.day;
    out->time.hour = (uint8_t)c->tm.hour;
    out->time.minute = (uint8_t)c->tm.minute;
    out->time.second = (uint8_t)c->tm.second;
    out->time.usec = (uint32_t)c->tm.second_part;
    return !c->tm.neg && c->tm.hour < 24; /* a TIME past a day, or negative: as text */
}

static const void *my_column_blob(drv_stmt *st, int i, size_t *len)
{
    return my_column_text(st, i, len);
}

static corm_vkind my_column_value(drv_stmt *st, int i, corm_value *out)
{
    my_col *c = &st->cols[i];
    switch (out->kind = c->is_null ? CORM_V_NULL : c->kind) {
    case CORM_V_INT: out->u.i = c->i; break;
    case CORM_V_FLOAT: out->u.f = c->d; break;
    case CORM_V_TEXT: out->u.text.p = my_column_text(st, i, &out->u.text.n); break;
    case CORM_V_BLOB: out->u.blob.data = my_column_blob(st, i, &out->u.blob.len); break;
    default: break;
    }
    return out->kind;
}

static int64_t my_last_insert_id(drv_conn *c) { return c->insert_id; }
static int64_t my_changes(drv_conn *c) { return c->changes; }

/* ---- reflection --------------------------------------------------------------------- */

/* Run a catalog query with up to one text parameter, its rows stored. */
static MYSQL_RES *catalog(drv_conn *c, const char *sql, const char *arg, util_err *err)
{
    util_buf b = UTIL_BUF_INIT;
    const char *q = strchr(sql, '?');
    if (arg && q) {
        char esc[512];
        size_t n = strlen(arg);
        if (n * 2 + 1 > sizeof esc) {
            util_err_set(err, CORM_ESQL, "a table name too long");
            return NULL;
        }
        mysql_real_escape_string(c->my, esc, arg, (unsigned long)n);
        util_buf_put(&b, sql, (size_t)(q - sql));
        util_buf_printf(&b, "'%s'", esc);
        util_buf_puts(&b, q + 1);
    } else {
        util_buf_puts(&b, sql);
    }
    if (b.err) {
        util_buf_free(&b);
        util_err_set(err, CORM_ENOMEM, "out of memory reading the schema");
        return NULL;
    }
    MYSQL_RES *r = NULL;
    drop_open(c);
    if (mysql_real_query(c->my, b.p, b.len) != 0 || !(r = mysql_store_result(c->my)))
        fail(c, err);
    util_buf_free(&b);
    return r;
}

static char *dup_cell(MYSQL_ROW row, int i) { return row[i] ? util_strdup(row[i]) : NULL; }

/* COLUMN_TYPE in the words corm's DDL uses: "bigint(20)" is BIGINT,
 * "tinyint(1)" BOOLEAN, "decimal(38,10)" DECIMAL(38,10). */
static char *type_name(const char *t, bool json)
{
    static const char *const ints[] = { "bigint", "int", "smallint", "mediumint", NULL };
    char buf[96];
    if (json)
        return util_strdup("JSON");
    if (strncmp(t, "tinyint(1)", 10) == 0)
        return util_strdup("BOOLEAN");
    size_t k = 0;
    for (; t[k] && k + 1 < sizeof buf; k++)
        buf[k] = (char)(t[k] >= 'a' && t[k] <= 'z' ? t[k] - 32 : t[k]);
    buf[k] = '\0';
    for (size_t i = 0; ints[i]; i++) {
        size_t n = strlen(ints[i]);
        if (strncmp(t, ints[i], n) == 0 && (t[n] == '(' || t[n] == '\0' || t[n] == ' ')) {
            buf[n] = '\0'; /* the display width means nothing */
            break;
        }
    }
    return util_strdup(buf);
}

static int push_name(char ***v, size_t *n, const char *name)
{
    char **nv = util_realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv)
        return CORM_ENOMEM;
    *v = nv;
    if (!(nv[*n] = util_strdup(name)))
        return CORM_ENOMEM;
    (*n)++;
    return CORM_OK;
}

static int reflect_table(drv_conn *c, drv_rtable *t, util_err *err)
{
    /* checks first: json_valid(col) marks a JSON column */
    MYSQL_RES *r = catalog(c, "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
                              "WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = ?",
                           t->name, err);
    if (!r)
        return err->code;
    char json_cols[1024] = " ";
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(r)))
        if (row[0] && strncmp(row[0], "json_valid(", 11) == 0) {
            size_t at = strlen(json_cols);
            snprintf(json_cols + at, sizeof json_cols - at, "%s ", row[0] + 11);
        }
    mysql_free_result(r);
    r = catalog(c, "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, COLUMN_KEY "
                   "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND "
                   "TABLE_NAME = ? ORDER BY ORDINAL_POSITION", t->name, err);
    if (!r)
        return err->code;
    size_t n = (size_t)mysql_num_rows(r);
    if (n && !(t->columns = util_calloc(n, sizeof *t->columns))) {
        mysql_free_result(r);
        return CORM_ENOMEM;
    }
    while ((row = mysql_fetch_row(r))) {
        drv_rcolumn *col = &t->columns[t->ncolumns++];
        char want[160];
        /* names in the check are quoted as the session's sql_mode says: "" */
        snprintf(want, sizeof want, "\"%s\") ", row[0]);
        col->name = dup_cell(row, 0);
        col->type = type_name(row[1], strstr(json_cols, want) != NULL);
        col->notnull = strcmp(row[2], "NO") == 0;
        col->dflt = row[3] && strcmp(row[3], "NULL") != 0 ? util_strdup(row[3]) : NULL;
        col->pk = row[4] && strcmp(row[4], "PRI") == 0;
        if (!col->name || !col->type || (row[3] && strcmp(row[3], "NULL") != 0 && !col->dflt)) {
            mysql_free_result(r);
            return CORM_ENOMEM;
        }
    }
    mysql_free_result(r);
    /* foreign keys, and the indexes InnoDB made for them (named as they are) */
    r = catalog(c, "SELECT k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, "
                   "k.REFERENCED_COLUMN_NAME, rc.DELETE_RULE, rc.UPDATE_RULE "
                   "FROM information_schema.KEY_COLUMN_USAGE k JOIN "
                   "information_schema.REFERENTIAL_CONSTRAINTS rc ON rc.CONSTRAINT_SCHEMA = "
                   "k.CONSTRAINT_SCHEMA AND rc.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND "
                   "rc.TABLE_NAME = k.TABLE_NAME WHERE k.TABLE_SCHEMA = DATABASE() AND "
                   "k.TABLE_NAME = ? AND k.REFERENCED_TABLE_NAME IS NOT NULL "
                   "ORDER BY k.CONSTRAINT_NAME, k.ORDINAL_POSITION", t->name, err);
    if (!r)
        return err->code;
    n = (size_t)mysql_num_rows(r);
    if (n && !(t->fks = util_calloc(n, sizeof *t->fks))) {
        mysql_free_result(r);
        return CORM_ENOMEM;
    }
    int rc = CORM_OK;
    while (rc == CORM_OK && (row = mysql_fetch_row(r))) {
        drv_rfk *k = t->nfks ? &t->fks[t->nfks - 1] : NULL;
        if (!k || strcmp(k->name, row[0]) != 0) {
            k = &t->fks[t->nfks++];
            k->name = dup_cell(row, 0);
            k->ref_table = dup_cell(row, 2);
            /* InnoDB's RESTRICT is what the standard calls NO ACTION */
            k->on_delete = util_strdup(strcmp(row[4], "RESTRICT") == 0 ? "NO ACTION" : row[4]);
            k->on_update = util_strdup(strcmp(row[5], "RESTRICT") == 0 ? "NO ACTION" : row[5]);
            if (!k->name || !k->ref_table || !k->on_delete || !k->on_update)
                rc = CORM_ENOMEM;
        }
        size_t nref = k->ncolumns;
        if (rc == CORM_OK && (push_name(&k->columns, &k->ncolumns, row[1]) < 0 ||
                              push_name(&k->ref_columns, &nref, row[3]) < 0))
            rc = CORM_ENOMEM;
    }
    mysql_free_result(r);
    if (rc < 0)
        return rc;
    r = catalog(c, "SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS "
                   "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME <> 'PRIMARY' "
                   "ORDER BY INDEX_NAME, SEQ_IN_INDEX", t->name, err);
    if (!r)
        return err->code;
    n = (size_t)mysql_num_rows(r);
    if (n && !(t->indexes = util_calloc(n, sizeof *t->indexes))) {
        mysql_free_result(r);
        return CORM_ENOMEM;
    }
    while (rc == CORM_OK && (row = mysql_fetch_row(r))) {
        /* the index InnoDB made for a foreign key that had none: named after
         * the constraint or its first column */
        bool fk_index = false;
        for (size_t i = 0; i < t->nfks && !fk_index; i++)
            fk_index = strcmp(row[1], "1") == 0 &&
                       (strcmp(t->fks[i].name, row[0]) == 0 || strcmp(t->fks[i].columns[0], row[0]) == 0);
        if (fk_index)
            continue;
        drv_rindex *ix = t->nindexes ? &t->indexes[t->nindexes - 1] : NULL;
        if (!ix || strcmp(ix->name, row[0]) != 0) {
            ix = &t->indexes[t->nindexes++];
            ix->name = dup_cell(row, 0);
            ix->unique = strcmp(row[1], "0") == 0;
            ix->constraint = ix->unique;
            if (!ix->name)
                rc = CORM_ENOMEM;
        }
        if (rc == CORM_OK && push_name(&ix->columns, &ix->ncolumns, row[2]) < 0)
            rc = CORM_ENOMEM;
    }
    mysql_free_result(r);
    /* a plain index's CREATE INDEX, for a downgrade to put back */
    for (size_t i = 0; rc == CORM_OK && i < t->nindexes; i++) {
        drv_rindex *ix = &t->indexes[i];
        if (ix->unique)
            continue;
        util_buf b = UTIL_BUF_INIT;
        util_buf_printf(&b, "CREATE INDEX \"%s\" ON \"%s\" (", ix->name, t->name);
        for (size_t k = 0; k < ix->ncolumns; k++)
            util_buf_printf(&b, "%s\"%s\"", k ? ", " : "", ix->columns[k]);
        util_buf_putc(&b, ')');
        if (b.err || !(ix->sql = util_strdup(util_buf_str(&b))))
            rc = CORM_ENOMEM;
        util_buf_free(&b);
    }
    if (rc < 0)
        return rc;
    util_buf q = UTIL_BUF_INIT;
    util_buf_printf(&q, "SHOW CREATE TABLE \"%s\"", t->name);
    r = q.err ? NULL : catalog(c, util_buf_str(&q), NULL, err);
    util_buf_free(&q);
    if (!r)
        return err->code ? err->code : CORM_ENOMEM;
    row = mysql_fetch_row(r);
    t->sql = row && row[1] ? util_strdup(row[1]) : NULL;
    mysql_free_result(r);
    return t->sql ? CORM_OK : CORM_ENOMEM;
}

static int my_reflect(drv_conn *c, drv_rschema *out, util_err *err)
{
    memset(out, 0, sizeof *out);
    MYSQL_RES *r = catalog(c, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE "
                              "TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' "
                              "ORDER BY TABLE_NAME", NULL, err);
    if (!r)
        return err->code;
    size_t n = (size_t)mysql_num_rows(r);
    int rc = CORM_OK;
    if (n && !(out->tables = util_calloc(n, sizeof *out->tables)))
        rc = CORM_ENOMEM;
    MYSQL_ROW row;
    while (rc == CORM_OK && (row = mysql_fetch_row(r))) {
        drv_rtable *t = &out->tables[out->ntables++];
        if (!(t->name = dup_cell(row, 0)))
            rc = CORM_ENOMEM;
        else
            rc = reflect_table(c, t, err);
    }
    mysql_free_result(r);
    if (rc == CORM_ENOMEM)
        util_err_set(err, rc, "out of memory reading the schema");
    if (rc < 0)
        drv_rschema_free(out);
    return rc;
}

const drv_driver drv_mysql = {
    .name = "mysql",
    .quote = '`',
    .placeholder = DRV_PH_QMARK,
    .has_returning = true,
    .default_values = " () VALUES ()",
    .params = params,
    .types = ddl_types,
    .autoinc_pk = "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
    .autoinc_type = "BIGINT",
    .table_options = " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin",
    .begin_write = "BEGIN",
    .reads_begin = true,
    .txn_failed = my_txn_failed,
    .no_limit = "18446744073709551615",
    .for_update = " FOR UPDATE",
    .connect = my_connect,
    .alive = my_alive,
    .close = my_close,
    .exec = my_exec,
    .refuses_ddl = my_refuses_ddl,
    .commits_first = my_commits_first,
    .prepare = my_prepare,
    .finalize = my_finalize,
    .reset = my_reset,
    .bind_null = my_bind_null,
    .bind_int = my_bind_int,
    .bind_double = my_bind_double,
    .bind_text = my_bind_text,
    .bind_blob = my_bind_blob,
    .step = my_step,
    .send = my_send,
    .recv = my_recv,
    .send_counts_only = true,
    .stmt_readonly = my_stmt_readonly,
    .read_all = my_read_all,
    .stream = my_read_all,
    .column_count = my_column_count,
    .row_count = my_row_count,
    .column_name = my_column_name,
    .column = my_column_value,
    .column_int = my_column_int,
    .column_double = my_column_double,
    .column_text = my_column_text,
    .column_blob = my_column_blob,
    .column_datetime = my_column_datetime,
    .last_insert_id = my_last_insert_id,
    .changes = my_changes,
    .reflect = my_reflect,
    .alter_in_place = true,
    .drop_unique = "DROP INDEX",
    .drop_fk = "DROP FOREIGN KEY",
    .drop_index_on_table = true,
    .modify_column = true,
    .ddl_autocommits = true,
    .table_sql_has_indexes = true,
    .upsert_duplicate_key = true,
};
