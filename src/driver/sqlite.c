/*
 * sqlite.c — the SQLite backend, over Debian's libsqlite3.
 *
 * A connection is a sqlite3 handle with foreign keys on, LIKE made
 * case-sensitive (as on every other database), a busy timeout, and the
 * journal and sync modes the URL asks for; a file database is put in WAL
 * mode unless the URL names another, so that readers never wait for a
 * writer nor a writer for readers. Transactions that write begin IMMEDIATE
 * (the write lock taken at BEGIN, waiting busy_timeout for it), so none
 * meets a snapshot that went stale while it read.
 *
 * "sqlite://" is a private database of the engine, shared by its pool's
 * connections: a file in a fresh directory on tmpfs (/dev/shm) made when
 * the engine opens and removed when it closes. SQLite's own shared-cache
 * and memdb in-memory databases lock whole tables or the whole database
 * against readers while a writer's transaction is open; a file in WAL mode
 * does not. Statements are sqlite3_stmt handles used directly as drv_stmt.
 */
#include "driver/driver.h"
#include "util/alloc.h"
#include "util/buf.h"

#include "util/numeric.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct drv_conn {
    sqlite3 *db;
    bool fk_off; /* ?foreign_keys=off: SQLite's own default kept */
    bool rolled_back; /* since the last BEGIN (sq_txn_failed) */
};

#define ST(st) ((sqlite3_stmt *)(void *)(st))

static int map_error(int rc)
{
    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY: return CORM_EUNIQUE;
    case SQLITE_CONSTRAINT_NOTNULL: return CORM_ENOTNULL;
    case SQLITE_CONSTRAINT_FOREIGNKEY: return CORM_EFOREIGNKEY;
    case SQLITE_CONSTRAINT_CHECK: return CORM_ECHECK;
    }
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PROTOCOL: return CORM_EBUSY; /* a WAL lock not had after SQLite's retries */
    case SQLITE_READONLY: return CORM_EREADONLY;
    case SQLITE_CANTOPEN:
    case SQLITE_NOTADB: return CORM_ECONNECT;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CORRUPT: return CORM_EIO;
    case SQLITE_NOMEM: return CORM_ENOMEM;
    case SQLITE_RANGE: return CORM_ERANGE; /* a decimal aggregate past 38 digits */
    case SQLITE_CONSTRAINT: return CORM_ECHECK;
    }
    return CORM_ESQL;
}

/* Fill err from the handle's last error; keep "table.col" of constraint
 * failures as the detail. */
static int fail(sqlite3 *db, int rc, util_err *err)
{
    int code = map_error(rc);
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    util_err_set(err, code, "sqlite: %s (%s, extended code %d)", msg, sqlite3_errstr(rc), rc);
    const char *colon = strstr(msg, "failed: ");
    if (colon)
        snprintf(err->detail, sizeof err->detail, "%s", colon + 8);
    return code;
}

static const char *const ddl_types[CORM_TYPE_MAX_] = {
    [CORM_TYPE_INTEGER] = "INTEGER", [CORM_TYPE_BIGINT] = "BIGINT", [CORM_TYPE_SMALLINT] = "SMALLINT",
    [CORM_TYPE_BOOLEAN] = "BOOLEAN", [CORM_TYPE_FLOAT] = "FLOAT",
    /* TEXT affinity keeps every digit; NUMERIC affinity would round to 15. */
    [CORM_TYPE_NUMERIC] = "NUMERIC_TEXT", [CORM_TYPE_STRING] = "VARCHAR", [CORM_TYPE_TEXT] = "TEXT",
    [CORM_TYPE_DATE] = "DATE", [CORM_TYPE_TIME] = "TIME", [CORM_TYPE_DATETIME] = "DATETIME",
    [CORM_TYPE_BLOB] = "BLOB", [CORM_TYPE_JSON] = "JSON_TEXT",
    [CORM_TYPE_UUID] = "CHAR(36)", /* the text, readable in any SQLite tool */
};

/* The collation "corm_decimal": decimal strings ("-12.50") compared by value,
 * exactly, since SQLite keeps NUMERIC columns as text to keep every digit. */
static int dec_sign(const char **p, const char *end)
{
    if (*p < end && (**p == '-' || **p == '+'))
        return *(*p)++ == '-' ? -1 : 1;
    return 1;
}

static int dec_cmp_abs(const char *a, const char *ae, const char *b, const char *be)
{
    while (a < ae && *a == '0')
        a++;
    while (b < be && *b == '0')
        b++;
    const char *ad = memchr(a, '.', (size_t)(ae - a)), *bd = memchr(b, '.', (size_t)(be - b));
    size_t ai = (size_t)((ad ? ad : ae) - a), bi = (size_t)((bd ? bd : be) - b);
    if (ai != bi)
        return ai < bi ? -1 : 1;
    int c = memcmp(a, b, ai);
    if (c)
        return c < 0 ? -1 : 1;
    const char *af = ad ? ad + 1 : ae, *bf = bd ? bd + 1 : be;
    while (af < ae || bf < be) {
        char x = af < ae ? *af++ : '0', y = bf < be ? *bf++ : '0';
        if (x != y)
            return x < y ? -1 : 1;
    }
    return 0;
}

static int dec_is_zero(const char *p, const char *end)
{
    for (; p < end; p++)
        if (*p != '0' && *p != '.')
            return 0;
    return 1;
}

static int decimal_collation(void *ud, int na, const void *va, int nb, const void *vb)
{
    (void)ud;
    const char *a = va, *b = vb, *ae = a + na, *be = b + nb;
    int sa = dec_sign(&a, ae), sb = dec_sign(&b, be);
    if (dec_is_zero(a, ae))
        sa = 0;
    if (dec_is_zero(b, be))
        sb = 0;
    if (sa != sb)
        return sa < sb ? -1 : 1;
    return sa * dec_cmp_abs(a, ae, b, be);
}

/* corm_decimal_sum / corm_decimal_avg: SUM and AVG of decimals kept as text,
 * exactly (SQLite's own would add them as doubles). NULLs are skipped; over
 * no values both give NULL. AVG carries six digits more than its inputs. */
typedef struct dec_acc {
    corm_numeric sum;
    int64_t n;
    int scale;
    bool bad;
} dec_acc;

static void dec_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    dec_acc *a = sqlite3_aggregate_context(ctx, sizeof *a);
    if (!a) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    corm_numeric v;
    int rc = CORM_OK;
    switch (sqlite3_value_type(argv[0])) {
    case SQLITE_NULL: return;
    case SQLITE_INTEGER: v = util_numeric_from_int(sqlite3_value_int64(argv[0])); break;
    case SQLITE_FLOAT: rc = util_numeric_from_double(sqlite3_value_double(argv[0]), &v); break;
    default: rc = corm_numeric_parse((const char *)sqlite3_value_text(argv[0]), &v); break;
    }
    if (rc == CORM_OK && a->n)
        rc = util_numeric_add(&a->sum, &v, &a->sum);
    else if (rc == CORM_OK)
        a->sum = v;
    if (rc == CORM_OK && v.scale > a->scale)
        a->scale = v.scale;
    a->bad |= rc != CORM_OK;
    a->n++;
}

static void dec_final(sqlite3_context *ctx, bool avg)
{
    dec_acc *a = sqlite3_aggregate_context(ctx, 0);
    char buf[CORM_NUMERIC_BUFSIZE];
    corm_numeric r;
    if (!a || !a->n) {
        sqlite3_result_null(ctx);
        return;
    }
    if (a->bad || (avg && util_numeric_div_int(&a->sum, a->n, a->scale + 6, &r) < 0)) {
        sqlite3_result_error(ctx, "decimal out of range (more than 38 digits) in an aggregate", -1);
        sqlite3_result_error_code(ctx, SQLITE_RANGE);
        return;
    }
    sqlite3_result_text(ctx, corm_numeric_format(avg ? &r : &a->sum, buf), -1, SQLITE_TRANSIENT);
}

static void dec_sum_final(sqlite3_context *ctx) { dec_final(ctx, false); }
static void dec_avg_final(sqlite3_context *ctx) { dec_final(ctx, true); }

static int run(sqlite3 *db, const char *sql, util_err *err)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? CORM_OK : fail(db, sqlite3_extended_errcode(db), err);
}

static const char *const params[] = {
    "journal_mode", "busy_timeout", "synchronous", "pool_size", "max_overflow", "pool_timeout",
    "mode", "foreign_keys", NULL
};

static bool one_of(const char *v, const char *const *allowed)
{
    for (; *allowed; allowed++)
        if (strcasecmp(v, *allowed) == 0)
            return true;
    return false;
}

static int check_params(const drv_url *url, util_err *err)
{
    static const char *const journal[] = { "delete", "truncate", "persist", "memory", "wal", "off", NULL };
    static const char *const sync[] = { "off", "normal", "full", "extra", NULL };
    static const char *const mode[] = { "ro", "rw", "rwc", NULL };
    static const char *const on_off[] = { "on", "off", NULL };
    const char *v;
    if ((v = drv_url_param(url, "journal_mode")) && !one_of(v, journal))
        return util_err_set(err, CORM_EURL, "malformed database URL: journal_mode '%s' is not one "
                            "of delete, truncate, persist, memory, wal, off", v);
    if ((v = drv_url_param(url, "synchronous")) && !one_of(v, sync))
        return util_err_set(err, CORM_EURL, "malformed database URL: synchronous '%s' is not one "
                            "of off, normal, full, extra", v);
    if ((v = drv_url_param(url, "mode")) && !one_of(v, mode))
        return util_err_set(err, CORM_EURL, "malformed database URL: mode '%s' is not one of "
                            "ro, rw, rwc", v);
    if ((v = drv_url_param(url, "foreign_keys")) && !one_of(v, on_off))
        return util_err_set(err, CORM_EURL, "malformed database URL: foreign_keys '%s' is not "
                            "on or off", v);
    if ((v = drv_url_param(url, "busy_timeout")) && (!*v || strspn(v, "0123456789") != strlen(v)))
        return util_err_set(err, CORM_EURL, "malformed database URL: busy_timeout '%s' is not "
                            "a number of milliseconds", v);
    return CORM_OK;
}

/* After a revision: foreign keys as the URL set them. */
static void sq_migrate_done(drv_conn *c)
{
    if (!c->fk_off)
        sqlite3_exec(c->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
}

static void on_rollback(void *ud);

static int sq_connect(const drv_url *url, drv_conn **out, util_err *err)
{
    char path[4096];
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = check_params(url, err);
    if (rc < 0)
        return rc;
    if (url->host && *url->host)
        return util_err_set(err, CORM_EURL, "malformed database URL: a sqlite URL has no host "
                            "('%s'); write sqlite:///relative.db or sqlite:////abs/path.db",
                            url->host);
    const char *mode = drv_url_param(url, "mode");
    if (mode && strcasecmp(mode, "ro") == 0)
        flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
    else if (mode && strcasecmp(mode, "rw") == 0)
        flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (url->priv)
        snprintf(path, sizeof path, "%s/memory.db", url->priv);
    else
        snprintf(path, sizeof path, "%s", url->database);
    drv_conn *c = util_calloc(1, sizeof *c);
    if (!c)
        return util_err_set(err, CORM_ENOMEM, "out of memory opening %s", path);
    rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        rc = c->db ? fail(c->db, sqlite3_extended_errcode(c->db), err) : CORM_ENOMEM;
        util_err_prefix(err, "cannot open sqlite database '%s': ", path);
        sqlite3_close(c->db);
        util_free(c);
        return rc == CORM_ENOMEM ? rc : CORM_ECONNECT;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_rollback_hook(c->db, on_rollback, c);
    sqlite3_create_collation_v2(c->db, "corm_decimal", SQLITE_UTF8, NULL, decimal_collation, NULL);
    sqlite3_create_function_v2(c->db, "corm_decimal_sum", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                               NULL, NULL, dec_step, dec_sum_final, NULL);
    sqlite3_create_function_v2(c->db, "corm_decimal_avg", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                               NULL, NULL, dec_step, dec_avg_final, NULL);
    const char *v = drv_url_param(url, "busy_timeout");
    sqlite3_busy_timeout(c->db, v ? atoi(v) : 5000);
    char sql[128];
    v = drv_url_param(url, "foreign_keys");
    c->fk_off = v && strcasecmp(v, "off") == 0;
    rc = run(c->db, c->fk_off ? "PRAGMA case_sensitive_like = ON"
                              : "PRAGMA foreign_keys = ON; PRAGMA case_sensitive_like = ON", err);
    /* WAL unless asked otherwise; a read-only connection takes what the file has */
    v = drv_url_param(url, "journal_mode");
    if (rc == CORM_OK && (v || !(flags & SQLITE_OPEN_READONLY))) {
        snprintf(sql, sizeof sql, "PRAGMA journal_mode = %s", v ? v : "wal");
        rc = run(c->db, sql, err);
    }
    if (rc == CORM_OK && (v = drv_url_param(url, "synchronous"))) {
        snprintf(sql, sizeof sql, "PRAGMA synchronous = %s", v);
        rc = run(c->db, sql, err);
    }
    if (rc < 0) {
        util_err_prefix(err, "cannot set up sqlite database '%s': ", path);
        sqlite3_close(c->db);
        util_free(c);
        return rc;
    }
    *out = c;
    return CORM_OK;
}

/* sqlite://: a fresh directory for the engine's private database, on tmpfs
 * where there is one. */
static int sq_engine_open(drv_url *url, util_err *err)
{
    if (*url->database && strcmp(url->database, ":memory:") != 0)
        return CORM_OK;
    const char *tmp = getenv("TMPDIR");
    struct stat st;
    char dir[512];
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
        tmp = "/dev/shm";
    else if (!tmp || !*tmp)
        tmp = "/tmp";
    snprintf(dir, sizeof dir, "%s/corm-memory-XXXXXX", tmp);
    if (!mkdtemp(dir))
        return util_err_set(err, CORM_ECONNECT, "cannot make a directory for the in-memory "
                            "database in %s", tmp);
    if (!(url->priv = util_strdup(dir))) {
        rmdir(dir);
        return util_err_set(err, CORM_ENOMEM, "out of memory opening an in-memory database");
    }
    return CORM_OK;
}

static void sq_engine_close(drv_url *url)
{
    if (!url->priv)
        return;
    static const char *const files[] = { "memory.db", "memory.db-wal", "memory.db-shm",
                                         "memory.db-journal" };
    char path[600];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/%s", url->priv, files[i]);
        unlink(path);
    }
    rmdir(url->priv);
    util_free(url->priv);
    url->priv = NULL;
}

static void sq_close(drv_conn *c)
{
    if (!c)
        return;
    sqlite3_close_v2(c->db);
    util_free(c);
}

static int sq_exec(drv_conn *c, const char *sql, util_err *err)
{
    int rc = run(c->db, sql, err);
    if (rc == CORM_OK && !strncmp(sql, "BEGIN", 5))
        c->rolled_back = false;
    return rc;
}

/* Asked while corm holds a transaction open: whether SQLite rolled it back
 * since its BEGIN. corm's own ROLLBACK ends corm's transaction first, so
 * that can only be SQLite's own, as it does when a statement in it fails
 * with SQLITE_NOMEM, SQLITE_IOERR or SQLITE_FULL (sqlite.org/
 * lang_transaction.html, "Response To Errors Within A Transaction"); a
 * statement run now would run, and commit, on its own. The rollback hook
 * says so at no cost to each statement, where asking
 * sqlite3_get_autocommit would cost a call each. */
static void on_rollback(void *ud) { ((drv_conn *)ud)->rolled_back = true; }
static bool sq_txn_failed(drv_conn *c) { return c->rolled_back; }

/* The rows an INSERT ... SELECT has inserted, counted by a function its
 * WHERE calls once a row (sq_exec_counted). */
typedef struct sq_count {
    void (*fn)(void *ud, int64_t rows);
    void *ud;
    int64_t rows;
} sq_count;

static void count_row(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc, (void)argv;
    sq_count *k = sqlite3_user_data(ctx);
    if ((++k->rows & 4095) == 0)
        k->fn(k->ud, k->rows);
    sqlite3_result_int(ctx, 1);
}

static int sq_exec_counted(drv_conn *c, const char *insert, size_t insert_len, const char *select,
                           void (*fn)(void *ud, int64_t rows), void *ud, int64_t *rows,
                           util_err *err)
{
    sq_count k = { fn, ud, 0 };
    int rc = sqlite3_create_function(c->db, "corm_count_row", 0, SQLITE_UTF8, &k, count_row,
                                     NULL, NULL);
    if (rc != SQLITE_OK)
        return fail(c->db, rc, err);
    util_buf b = UTIL_BUF_INIT;
    util_buf_printf(&b, "%.*s SELECT * FROM (%s) WHERE corm_count_row()", (int)insert_len, insert,
                    select);
    rc = b.err ? util_err_set(err, CORM_ENOMEM, "out of memory copying rows")
               : run(c->db, util_buf_str(&b), err);
    util_buf_free(&b);
    sqlite3_create_function(c->db, "corm_count_row", 0, SQLITE_UTF8, NULL, NULL, NULL, NULL);
    *rows = k.rows;
    return rc;
}

static int sq_prepare(drv_conn *c, const char *sql, size_t len, drv_stmt **out, util_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(c->db, sql, (int)len, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK)
        return fail(c->db, sqlite3_extended_errcode(c->db), err);
    *out = (drv_stmt *)(void *)st;
    return CORM_OK;
}

static void sq_finalize(drv_stmt *st) { sqlite3_finalize(ST(st)); }

/* Every parameter is bound again before the next step, so the old
 * bindings need no clearing. */
static void sq_reset(drv_stmt *st) { sqlite3_reset(ST(st)); }

static int bind_rc(int rc) { return rc == SQLITE_OK ? CORM_OK : map_error(rc); }

static int sq_bind_null(drv_stmt *st, int i) { return bind_rc(sqlite3_bind_null(ST(st), i)); }
static int sq_bind_int(drv_stmt *st, int i, int64_t v) { return bind_rc(sqlite3_bind_int64(ST(st), i, v)); }
static int sq_bind_double(drv_stmt *st, int i, double v) { return bind_rc(sqlite3_bind_double(ST(st), i, v)); }

static int sq_bind_text(drv_stmt *st, int i, const char *s, size_t n)
{
    return bind_rc(sqlite3_bind_text64(ST(st), i, s, n, SQLITE_STATIC, SQLITE_UTF8));
}

static int sq_bind_blob(drv_stmt *st, int i, const void *p, size_t n)
{
    return bind_rc(sqlite3_bind_blob64(ST(st), i, p ? p : "", n, SQLITE_STATIC));
}

static int sq_step(drv_stmt *st, util_err *err)
{
    int rc = sqlite3_step(ST(st));
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    sqlite3 *db = sqlite3_db_handle(ST(st));
    fail(db, sqlite3_extended_errcode(db), err);
    sqlite3_reset(ST(st));
    return err->code;
}

static bool sq_stmt_readonly(drv_stmt *st) { return sqlite3_stmt_readonly(ST(st)) != 0; }

static int sq_column_count(drv_stmt *st) { return sqlite3_column_count(ST(st)); }
static const char *sq_column_name(drv_stmt *st, int i) { return sqlite3_column_name(ST(st), i); }

/* A value's bytes. sqlite3_value_blob gives NULL for a NULL and for no
 * bytes ("" here), and when turning a number into text, or expanding a
 * zeroblob, ran out of memory (NULL here). */
static const void *sq_blob(sqlite3_value *v, size_t *len)
{
    const void *p = sqlite3_value_blob(v);
    int n = sqlite3_value_bytes(v), t;
    *len = p ? (size_t)n : 0;
    if (p)
        return p;
    t = sqlite3_value_type(v);
    return n == 0 && t != SQLITE_INTEGER && t != SQLITE_FLOAT ? "" : NULL;
}

/* Each sqlite3_column_* call checks the statement and its row again and
 * ends through sqlite3ApiExit; sqlite3_column_value does that once, and the
 * sqlite3_value_* calls on what it returns are plain reads. (SQLite calls
 * such a value unprotected: reading it is not thread-safe under a
 * connection's mutex. corm's connections have none (SQLITE_OPEN_NOMUTEX),
 * and a connection is used by one thread at a time.) */
static corm_vkind sq_column(drv_stmt *st, int i, corm_value *out)
{
    sqlite3_value *v = sqlite3_column_value(ST(st), i);
    switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER:
        out->u.i = sqlite3_value_int64(v);
        return out->kind = CORM_V_INT;
    case SQLITE_FLOAT:
        out->u.f = sqlite3_value_double(v);
        return out->kind = CORM_V_FLOAT;
    case SQLITE_TEXT: /* NULL: out of memory converting it (a UTF-16 database) */
        out->u.text.p = (const char *)sqlite3_value_text(v);
        out->u.text.n = out->u.text.p ? (size_t)sqlite3_value_bytes(v) : 0;
        return out->kind = CORM_V_TEXT;
    case SQLITE_BLOB: /* NULL: no bytes, or out of memory expanding a zeroblob */
        out->u.blob.len = (size_t)sqlite3_value_bytes(v);
        if (!(out->u.blob.data = sqlite3_value_blob(v)) && !out->u.blob.len)
            out->u.blob.data = "";
        return out->kind = CORM_V_BLOB;
    default:
        return out->kind = CORM_V_NULL;
    }
}

static int64_t sq_column_int(drv_stmt *st, int i) { return sqlite3_column_int64(ST(st), i); }
static double sq_column_double(drv_stmt *st, int i) { return sqlite3_column_double(ST(st), i); }

static const char *sq_column_text(drv_stmt *st, int i, size_t *len)
{
    sqlite3_value *v = sqlite3_column_value(ST(st), i);
    const char *s = (const char *)sqlite3_value_text(v);
    *len = s ? (size_t)sqlite3_value_bytes(v) : 0;
    if (s)
        return s;
    /* sqlite3_value_text gives NULL for a NULL, and when converting a
     * number or a blob ran out of memory */
    return sqlite3_value_type(v) == SQLITE_NULL ? "" : NULL;
}

static const void *sq_column_blob(drv_stmt *st, int i, size_t *len)
{
    return sq_blob(sqlite3_column_value(ST(st), i), len);
}

static int64_t sq_last_insert_id(drv_conn *c) { return sqlite3_last_insert_rowid(c->db); }
static int64_t sq_changes(drv_conn *c) { return sqlite3_changes64(c->db); }

/* ---- reflection -------------------------------------------------------------- */

static char *dup_col(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t ? util_strdup(t) : NULL;
}

/* Run sql with one text parameter; rows go to fn. */
static int each_row(sqlite3 *db, const char *sql, const char *arg,
                    int (*fn)(sqlite3_stmt *st, void *ud), void *ud, util_err *err)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return fail(db, rc, err);
    if (arg)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    int r = CORM_OK;
    while (r == CORM_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        r = fn(st, ud);
    if (r == CORM_OK && rc != SQLITE_DONE)
        r = fail(db, sqlite3_extended_errcode(db), err);
    sqlite3_finalize(st);
    return r == CORM_ENOMEM ? util_err_set(err, r, "out of memory reading the schema") : r;
}

static int add_table(sqlite3_stmt *st, void *ud)
{
    drv_rschema *rs = ud;
    size_t cap = rs->ntables; /* grown one by one: schemas are small */
    drv_rtable *v = util_realloc(rs->tables, (cap + 1) * sizeof *v);
    if (!v)
        return CORM_ENOMEM;
    rs->tables = v;
    memset(&v[cap], 0, sizeof *v);
    if (!(v[cap].name = dup_col(st, 0)))
        return CORM_ENOMEM;
    rs->ntables++;
    if (!(v[cap].sql = dup_col(st, 1)))
        return CORM_ENOMEM;
    return CORM_OK;
}

static int add_column(sqlite3_stmt *st, void *ud)
{
    drv_rtable *t = ud;
    drv_rcolumn *v = util_realloc(t->columns, (t->ncolumns + 1) * sizeof *v);
    if (!v)
        return CORM_ENOMEM;
    t->columns = v;
    drv_rcolumn *c = &v[t->ncolumns];
    memset(c, 0, sizeof *c);
    c->name = dup_col(st, 1);
    c->type = dup_col(st, 2);
    c->notnull = sqlite3_column_int(st, 3) != 0;
    c->dflt = dup_col(st, 4);
    c->pk = sqlite3_column_int(st, 5) != 0;
    t->ncolumns++;
    return c->name && c->type ? CORM_OK : CORM_ENOMEM;
}

static int push_name(char ***v, size_t *n, const char *name)
{
    char **nv = util_realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv)
        return CORM_ENOMEM;
    *v = nv;
    if (!(nv[*n] = util_strdup(name ? name : "")))
        return CORM_ENOMEM;
    (*n)++;
    return CORM_OK;
}

static int add_index_column(sqlite3_stmt *st, void *ud)
{
    drv_rindex *ix = ud;
    return push_name(&ix->columns, &ix->ncolumns, (const char *)sqlite3_column_text(st, 2));
}

typedef struct { sqlite3 *db; drv_rtable *t; util_err *err; } ix_ctx;

static int add_index_sql(sqlite3_stmt *st, void *ud)
{
    drv_rindex *ix = ud;
    return (ix->sql = dup_col(st, 0)) ? CORM_OK : CORM_ENOMEM;
}

static int add_index(sqlite3_stmt *st, void *ud)
{
    ix_ctx *x = ud;
    const char *origin = (const char *)sqlite3_column_text(st, 3);
    if (origin && strcmp(origin, "pk") == 0)
        return CORM_OK;
    drv_rtable *t = x->t;
    drv_rindex *v = util_realloc(t->indexes, (t->nindexes + 1) * sizeof *v);
    if (!v)
        return CORM_ENOMEM;
    t->indexes = v;
    drv_rindex *ix = &v[t->nindexes];
    memset(ix, 0, sizeof *ix);
    if (!(ix->name = dup_col(st, 1)))
        return CORM_ENOMEM;
    ix->unique = sqlite3_column_int(st, 2) != 0;
    ix->constraint = origin && strcmp(origin, "u") == 0;
    t->nindexes++;
    int rc = each_row(x->db, "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ? "
                             "AND sql IS NOT NULL", ix->name, add_index_sql, ix, x->err);
    if (rc < 0)
        return rc;
    return each_row(x->db, "SELECT * FROM pragma_index_info(?) ORDER BY seqno", ix->name,
                    add_index_column, ix, x->err);
}

static int add_fk(sqlite3_stmt *st, void *ud)
{
    drv_rtable *t = ud;
    if (!t->nfks || sqlite3_column_int(st, 1) == 0) { /* seq 0: a new key */
        drv_rfk *v = util_realloc(t->fks, (t->nfks + 1) * sizeof *v);
        if (!v)
            return CORM_ENOMEM;
        t->fks = v;
        drv_rfk *k = &v[t->nfks];
        memset(k, 0, sizeof *k);
        t->nfks++;
        k->ref_table = dup_col(st, 2);
        k->on_update = dup_col(st, 5);
        k->on_delete = dup_col(st, 6);
        if (!k->ref_table || !k->on_update || !k->on_delete)
            return CORM_ENOMEM;
    }
    drv_rfk *k = &t->fks[t->nfks - 1];
    size_t a = k->ncolumns, b = k->ncolumns;
    if (push_name(&k->columns, &a, (const char *)sqlite3_column_text(st, 3)) < 0)
        return CORM_ENOMEM;
    if (push_name(&k->ref_columns, &b, (const char *)sqlite3_column_text(st, 4)) < 0) {
        util_free(k->columns[a - 1]); /* keep the two lists the same length */
        return CORM_ENOMEM;
    }
    k->ncolumns = a;
    return CORM_OK;
}

static int sq_reflect(drv_conn *c, drv_rschema *out, util_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = each_row(c->db, "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name "
                             "NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name", NULL, add_table, out, err);
    for (size_t i = 0; rc == CORM_OK && i < out->ntables; i++) {
        drv_rtable *t = &out->tables[i];
        ix_ctx x = { c->db, t, err };
        rc = each_row(c->db, "SELECT * FROM pragma_table_info(?) ORDER BY cid", t->name,
                      add_column, t, err);
        if (rc == CORM_OK)
            rc = each_row(c->db, "SELECT * FROM pragma_index_list(?) ORDER BY name", t->name,
                          add_index, &x, err);
        if (rc == CORM_OK)
            rc = each_row(c->db, "SELECT * FROM pragma_foreign_key_list(?) ORDER BY id, seq",
                          t->name, add_fk, t, err);
    }
    if (rc < 0)
        drv_rschema_free(out);
    return rc;
}

const drv_driver drv_sqlite = {
    .name = "sqlite",
    .quote = '"',
    .placeholder = DRV_PH_QMARK,
    .has_returning = true,
    .default_values = " DEFAULT VALUES",
    .update_from_values = true,
    .params = params,
    .types = ddl_types,
    .autoinc_pk = "INTEGER PRIMARY KEY",
    .autoinc_type = "INTEGER",
    .numeric_collation = "corm_decimal",
    .numeric_sum = "corm_decimal_sum",
    .numeric_avg = "corm_decimal_avg",
    .begin_write = "BEGIN IMMEDIATE",
    .no_limit = "-1",
    .engine_open = sq_engine_open,
    .engine_close = sq_engine_close,
    .connect = sq_connect,
    .close = sq_close,
    .exec = sq_exec,
    .txn_failed = sq_txn_failed,
    .exec_counted = sq_exec_counted,
    .prepare = sq_prepare,
    .finalize = sq_finalize,
    .reset = sq_reset,
    .bind_null = sq_bind_null,
    .bind_int = sq_bind_int,
    .bind_double = sq_bind_double,
    .bind_text = sq_bind_text,
    .bind_blob = sq_bind_blob,
    .step = sq_step,
    .stmt_readonly = sq_stmt_readonly,
    .column_count = sq_column_count,
    .column_name = sq_column_name,
    .column = sq_column,
    .column_int = sq_column_int,
    .column_double = sq_column_double,
    .column_text = sq_column_text,
    .column_blob = sq_column_blob,
    .last_insert_id = sq_last_insert_id,
    .changes = sq_changes,
    .reflect = sq_reflect,
    /* the documented way to rebuild tables: keys off, checked before commit */
    .migrate_before = "PRAGMA foreign_keys = OFF",
    .migrate_check = "PRAGMA foreign_key_check",
    .migrate_after = "PRAGMA foreign_keys = ON",
    .migrate_done = sq_migrate_done,
    .checks_verbatim = true,
};
