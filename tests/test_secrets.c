/*
 * test_secrets.c — a password in a database URL is never shown (issue 11).
 *
 * Every path that reports an error about a URL, logs or echoes is driven
 * with URLs holding the password below, in the user:password@ part and as
 * a password= parameter, and everything the engine, the sessions, the
 * echo, the warnings and the command line (stdout and stderr) produced is
 * searched for it: malformed URLs of each kind, unknown drivers and
 * parameters, servers that cannot be reached, refused logins (on the
 * server the suite runs on), replicas, the pool's timeout, statements
 * that fail, and `db` commands.
 */
#include "common.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PASSWORD "Pw-7f3c9e1b"

static char seen[1 << 16]; /* everything produced, appended */
static size_t nseen;

static void keep(const char *text)
{
    size_t n = strlen(text);
    if (nseen + n + 2 < sizeof seen) {
        memcpy(seen + nseen, text, n);
        nseen += n;
        seen[nseen++] = '\n';
        seen[nseen] = '\0';
    }
}

static void echo_line(void *ud, const char *line) { (void)ud; keep(line); }

/* Nothing produced so far holds the password; something was produced. */
static void nothing_leaked(const char *what)
{
    if (strstr(seen, PASSWORD))
        fail_msg("%s: the password was shown:\n%s", what, seen);
    assert_true(nseen > 0);
    nseen = 0;
    seen[0] = '\0';
}

/* Open url; whatever happens, keep what the engine said. */
static corm_engine *open_url(const char *url, int *rc)
{
    corm_engine *e;
    *rc = corm_engine_open(&e, url, test_models);
    keep(corm_engine_errmsg(e));
    if (*rc == CORM_OK)
        corm_engine_set_echo(e, echo_line, NULL);
    return e;
}

static void malformed_urls_do_not_show_it(void **state)
{
    (void)state;
    const char *urls[] = {
        "u:" PASSWORD "@localhost/db",                               /* no scheme */
        "Post gres://u:" PASSWORD "@localhost/db",                   /* a bad scheme */
        "nosuch://u:" PASSWORD "@localhost/db",                      /* no such driver */
        "postgresql://u:" PASSWORD "@localhost:port/db",             /* a port not a number */
        "postgresql://u:" PASSWORD "@localhost/db?pool_size",        /* not key=value */
        "postgresql://u:" PASSWORD "@localhost/db?nosuch=1",         /* an unknown parameter */
        "postgresql://u:" PASSWORD "@localhost/db?pool_size=many",   /* a bad number */
        "postgresql://u:" PASSWORD "%zz@localhost/db",               /* a bad %-escape */
        "mysql://u:" PASSWORD "@localhost/db?charset",               /* not key=value */
        "postgresql://u@localhost/db?password=" PASSWORD "&pool_size=x",
        "sqlite://u:" PASSWORD "@host/file.db",                      /* a host for sqlite */
    };
    for (size_t i = 0; i < sizeof urls / sizeof *urls; i++) {
        int rc;
        corm_engine *e = open_url(urls[i], &rc);
        assert_int_equal(rc, CORM_EURL);
        corm_engine_close(e);
        nothing_leaked(urls[i]);
    }
}

/* A server nobody listens on: the connection error names host and port. */
static void unreachable_servers_do_not_show_it(void **state)
{
    (void)state;
    const char *urls[] = {
        "postgresql://u:" PASSWORD "@127.0.0.1:9/db?connect_timeout=2",
        "postgresql://u@127.0.0.1:9/db?password=" PASSWORD "&connect_timeout=2",
        "mysql://u:" PASSWORD "@127.0.0.1:9/db?connect_timeout=2",
    };
    for (size_t i = 0; i < sizeof urls / sizeof *urls; i++) {
        int rc;
        corm_engine *e = open_url(urls[i], &rc);
        if (rc == CORM_OK) { /* engines connect lazily: the first session does */
            corm_session *s = corm_session_new(e);
            corm_result *r;
            assert_int_equal(corm_execute(s, "SELECT 1", NULL, 0, &r), CORM_ECONNECT);
            keep(corm_errmsg(s));
            assert_int_equal(corm_create_all(e), CORM_ECONNECT);
            keep(corm_engine_errmsg(e));
            corm_session_free(s);
        }
        corm_engine_close(e);
        nothing_leaked(urls[i]);
    }
}

/* The test server's URL with the password put in: user:PASSWORD@. */
static void with_password(char *out, size_t size, const char *url)
{
    const char *sep = strstr(url, "://");
    assert_non_null(sep);
    const char *auth = sep + 3;
    size_t alen = strcspn(auth, "/?@");
    if (auth[alen] == '@') /* user@: the password after the user */
        snprintf(out, size, "%.*s:%s%s", (int)(auth + alen - url), url, PASSWORD, auth + alen);
    else /* no user in the URL: a user=... parameter or the default one */
        snprintf(out, size, "%.*scorm:%s@%s", (int)(auth - url), url, PASSWORD, auth);
}

/* On the server the suite runs on (PostgreSQL and MariaDB): a login the
 * server refuses or accepts, the pool's timeout, a replica, failing
 * statements and the echo. On SQLite: the same calls on a file. */
static void a_working_engine_does_not_show_it(void **state)
{
    (void)state;
    char url[1024];
    fixture fx;
    fx_open(&fx, "");
    if (test_server_url() && strncmp(test_server_url(), "mysql", 5) == 0) {
        /* MariaDB checks passwords: a user that has this one */
        db_exec(test_server_url(), "CREATE USER IF NOT EXISTS 'corm_pw'@'localhost' IDENTIFIED BY '"
                                   PASSWORD "'");
        db_exec(test_server_url(), "GRANT ALL ON *.* TO 'corm_pw'@'localhost'");
        const char *at = strchr(test_server_url(), '@');
        assert_non_null(at);
        snprintf(url, sizeof url, "mysql://corm_pw:%s%s", PASSWORD, at);
    } else if (test_server_url()) {
        with_password(url, sizeof url, test_server_url());
    } else { /* a SQLite URL has no password: the same calls, nothing to hide */
        snprintf(url, sizeof url, "%s", fx.url);
    }
    char pooled[1200];
    snprintf(pooled, sizeof pooled, "%s%spool_size=1&max_overflow=0&pool_timeout=0", url,
             strchr(url, '?') ? "&" : "?");
    int rc;
    corm_engine *e = open_url(pooled, &rc);
    bool mariadb = test_server_url() && strncmp(test_server_url(), "mysql", 5) == 0;
    assert_false(mariadb && rc != CORM_OK); /* corm_pw has the password */
    if (rc == CORM_ECONNECT) { /* a login refused at open: "Access denied ..." */
        corm_engine_close(e);
        fx_close(&fx);
        nothing_leaked(url);
        return;
    }
    assert_int_equal(rc, CORM_OK);
    corm_session *a = corm_session_new(e), *b = corm_session_new(e);
    corm_result *r;
    rc = corm_execute(a, "SELECT 1", NULL, 0, &r);
    keep(corm_errmsg(a));
    if (rc == CORM_OK) { /* the server took the login (trust, or SQLite) */
        User *u = corm_new(a, User);
        u->username = "secret-keeper";
        u->email = "k@example.com";
        OK(corm_add(a, u));
        OK(corm_flush(a)); /* a holds the only connection, in a transaction */
        assert_int_equal(corm_execute(b, "SELECT 1", NULL, 0, &r), CORM_EBUSY);
        keep(corm_errmsg(b)); /* "no connection to <url> within 0 ms" */
        if (test_server_url()) /* the URL is named, its password hidden */
            assert_true(strstr(corm_errmsg(b), "***") != NULL);
        assert_int_equal(corm_execute(a, "SELECT * FROM no_such_table", NULL, 0, &r), CORM_ESQL);
        keep(corm_errmsg(a));
        OK(corm_rollback(a));
    } else { /* refused: "password authentication failed" / "Access denied" */
        assert_int_equal(rc, CORM_ECONNECT);
    }
    if (test_server_url() && strncmp(url, "postgres", 8) == 0) {
        rc = corm_engine_add_replica(e, "postgresql://u:" PASSWORD "@127.0.0.1:9/db?connect_timeout=1", 1);
        keep(corm_engine_errmsg(e));
        rc = corm_engine_add_replica(e, "postgresql://u:" PASSWORD "@h:x/db", 1);
        assert_int_equal(rc, CORM_EURL);
        keep(corm_engine_errmsg(e));
    }
    corm_session_free(a);
    corm_session_free(b);
    corm_engine_close(e);
    if (mariadb) { /* the password given to a user that has none: refused */
        char wrong[1024];
        with_password(wrong, sizeof wrong, test_server_url());
        e = open_url(wrong, &rc);
        assert_int_equal(rc, CORM_ECONNECT);
        corm_engine_close(e);
    }
    fx_close(&fx);
    nothing_leaked(url);
}

/* What a command prints on stdout and stderr, kept. */
static int run_cli(int argc, char **argv)
{
    char path[] = "/tmp/corm-secrets-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stdout);
    fflush(stderr);
    int out = dup(1), err = dup(2);
    dup2(fd, 1);
    dup2(fd, 2);
    int status = corm_cli_main(argc, argv, test_models);
    fflush(stdout);
    fflush(stderr);
    dup2(out, 1);
    dup2(err, 2);
    close(out);
    close(err);
    char buf[4096];
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    keep(buf);
    close(fd);
    unlink(path);
    return status;
}

static void the_command_line_does_not_show_it(void **state)
{
    (void)state;
    char dir[] = "/tmp/corm-secrets-dir-XXXXXX";
    assert_non_null(mkdtemp(dir));
    const char *urls[] = {
        "postgresql://u:" PASSWORD "@127.0.0.1:9/db?connect_timeout=1",
        "mysql://u:" PASSWORD "@127.0.0.1:9/db?connect_timeout=1",
        "postgresql://u:" PASSWORD "@localhost:port/db",
        "nosuch://u:" PASSWORD "@localhost/db",
    };
    const char *verbs[] = { "current", "upgrade", "check", "history" };
    for (size_t i = 0; i < sizeof urls / sizeof *urls; i++)
        for (size_t v = 0; v < sizeof verbs / sizeof *verbs; v++) {
            char *argv[] = { "app", "db", (char *)verbs[v], "--url", (char *)urls[i], "--dir", dir,
                             NULL };
            assert_int_not_equal(run_cli(7, argv), 0);
            nothing_leaked(urls[i]);
        }
    /* DATABASE_URL, as a deployment sets it */
    setenv("DATABASE_URL", urls[0], 1);
    char *argv[] = { "app", "db", "current", "--dir", dir, NULL };
    assert_int_not_equal(run_cli(5, argv), 0);
    unsetenv("DATABASE_URL");
    nothing_leaked("DATABASE_URL");
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(malformed_urls_do_not_show_it),
        cmocka_unit_test(unreachable_servers_do_not_show_it),
        cmocka_unit_test(a_working_engine_does_not_show_it),
        cmocka_unit_test(the_command_line_does_not_show_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
