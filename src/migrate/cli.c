/*
 * cli.c — `db` commands, Flask-Migrate's `flask db`, for an application to
 * run with its own models:
 *
 *     int main(int argc, char **argv)
 *     {
 *         if (argc > 1 && strcmp(argv[1], "db") == 0)
 *             return corm_cli_main(argc, argv, models);
 *         ...
 *     }
 *
 * so that `./app db migrate -m "add age"` diffs the app's models against
 * its database. The database comes from --url or DATABASE_URL, the folder
 * from --dir (default "migrations"). On a terminal, a long SQLite table
 * rebuild shows the rows it has copied on stderr. --help (alone, or after a command)
 * and usage errors are answered before any database is opened; exit 0
 * when done, 1 when a command failed (or check found differences), 2 for
 * a usage error.
 */
#include "corm/corm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The commands: name, arguments, what it does (for --help). */
static const struct verb {
    const char *name, *args, *what;
    int min, max; /* positional arguments */
} verbs[] = {
    { "init", "", "create the migrations folder and the version table", 0, 0 },
    { "migrate", "-m MESSAGE", "write a revision from the models' changes (from the application)", 0, 0 },
    { "revision", "-m MESSAGE", "write an empty revision to fill in by hand", 0, 0 },
    { "upgrade", "[REV|head|+N] [--sql]", "apply revisions (--sql: print the SQL instead)", 0, 1 },
    { "downgrade", "[REV|base|-N] [--sql]", "undo revisions, one by default (--sql: print the SQL)", 0, 1 },
    { "current", "", "the revision the database is at", 0, 0 },
    { "history", "", "every revision, newest first", 0, 0 },
    { "heads", "", "the revisions nothing follows", 0, 0 },
    { "show", "REV", "one revision", 1, 1 },
    { "stamp", "REV", "record REV as applied without running anything", 1, 1 },
    { "merge", "[-m MESSAGE]", "write a revision that joins two heads", 0, 0 },
    { "check", "", "compare the models with the database (exit 1 if they differ; "
                   "from the application)", 0, 0 },
    { "inspect", "[-o FILE]", "write C model declarations for the database's tables", 0, 0 },
};
#define NVERBS (sizeof verbs / sizeof *verbs)

static const char options[] =
    "options:\n"
    "  --url URL        the database (default: $DATABASE_URL)\n"
    "  --dir DIR        the migrations folder (default: migrations)\n"
    "  -m, --message M  the revision's message (migrate, revision, merge)\n"
    "  --sql            upgrade, downgrade: print the SQL, run nothing\n"
    "  -o, --output F   inspect: write the models to F (default: standard output)\n"
    "  -h, --help       this help; after a command, that command's\n"
    "exit status: 0 done, 1 failed (or check found differences), 2 a usage error\n";

static void help(FILE *f, const char *prog, const struct verb *v)
{
    if (v) {
        fprintf(f, "usage: %s db %s %s\n  %s\n%s", prog, v->name, v->args, v->what, options);
        return;
    }
    fprintf(f, "usage: %s db COMMAND [options]\n\ncommands:\n", prog);
    for (size_t i = 0; i < NVERBS; i++)
        fprintf(f, "  %-10s %-24s %s\n", verbs[i].name, verbs[i].args, verbs[i].what);
    fprintf(f, "\n%s", options);
}

/* A usage error: what was wrong, and where to look. */
static int usage(const char *prog, const char *fmt, const char *what)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, what);
    fprintf(stderr, "; see '%s db --help'\n", prog);
    return 2;
}

/* What a migration runs, on stdout as it starts. */
static void say(void *ud, const char *line)
{
    (void)ud;
    printf("%s\n", line);
    fflush(stdout);
}

/* A table rebuild's rows, on a terminal: one line rewritten in place. */
static void show_progress(void *ud, const char *what, int64_t done, int64_t total)
{
    (void)ud;
    fprintf(stderr, "\r  copying the rows of %s: %lld of %lld", what, (long long)done,
            (long long)total);
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
}

static const struct verb *find_verb(const char *name)
{
    for (size_t i = 0; name && i < NVERBS; i++)
        if (strcmp(verbs[i].name, name) == 0)
            return &verbs[i];
    return NULL;
}

/* "-1", "+2": a relative revision, not an option. */
static bool relative(const char *a)
{
    return (a[0] == '-' || a[0] == '+') && a[1] >= '0' && a[1] <= '9';
}

int corm_cli_main(int argc, char **argv, const corm_model *const *models)
{
    const char *prog = argc > 0 ? argv[0] : "app", *url = getenv("DATABASE_URL");
    const char *dir = "migrations", *message = NULL, *cmd = NULL, *arg = NULL, *output = NULL;
    bool sql = false, want_help = false;
    int i = 1, nargs = 0;
    if (i < argc && strcmp(argv[i], "db") == 0)
        i++;
    for (; i < argc; i++) {
        const char *a = argv[i];
        bool valued = strcmp(a, "--url") == 0 || strcmp(a, "--dir") == 0 ||
                      strcmp(a, "-m") == 0 || strcmp(a, "--message") == 0 ||
                      strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0;
        if (valued && i + 1 >= argc)
            return usage(prog, "%s needs a value", a);
        if (strcmp(a, "--url") == 0)
            url = argv[++i];
        else if (strcmp(a, "--dir") == 0)
            dir = argv[++i];
        else if (strcmp(a, "-m") == 0 || strcmp(a, "--message") == 0)
            message = argv[++i];
        else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0)
            output = argv[++i];
        else if (strcmp(a, "--sql") == 0)
            sql = true;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            want_help = true;
        else if (a[0] == '-' && !relative(a))
            return usage(prog, "unknown option '%s'", a);
        else if (!cmd)
            cmd = a;
        else if (nargs++ == 0)
            arg = a;
        else
            return usage(prog, "too many arguments at '%s'", a);
    }
    const struct verb *v = find_verb(cmd);
    if (cmd && !v)
        return usage(prog, "unknown command '%s'", cmd);
    if (want_help) {
        help(stdout, prog, v);
        return 0;
    }
    if (!v) {
        help(stderr, prog, NULL);
        return 2;
    }
    if (nargs < v->min)
        return usage(prog, "'%s' needs a revision", cmd);
    if (nargs > v->max)
        return usage(prog, "'%s' takes no revision", cmd);
    if (!url) {
        fprintf(stderr, "%s: no database: give --url or set DATABASE_URL\n", prog);
        return 2;
    }
    bool has_models = models && models[0];
    if (!has_models && (strcmp(cmd, "migrate") == 0 || strcmp(cmd, "check") == 0)) {
        fprintf(stderr, "%s: '%s' compares the application's models with the database: run it "
                "from the application (corm_cli_main with its models)\n", prog, cmd);
        return 2;
    }
    static const corm_model *const none[] = { NULL };
    corm_engine *e;
    int rc = corm_engine_open(&e, url, has_models ? models : none);
    if (rc == CORM_OK) {
        corm_engine_set_info(e, say, NULL);
        if (isatty(STDERR_FILENO)) /* quiet in a pipe, a log, a CI job */
            corm_engine_set_progress(e, show_progress, NULL);
        char id[64] = "";
        if (strcmp(cmd, "init") == 0) {
            rc = corm_migrate_init(e, dir);
            if (rc == CORM_OK)
                printf("created %s and the version table\n", dir);
        } else if (strcmp(cmd, "migrate") == 0) {
            rc = corm_migrate_autogenerate(e, dir, message, stderr, id, sizeof id);
            if (rc == 0)
                printf("no changes in the models: no revision written\n");
            else if (rc > 0)
                printf("wrote revision %s in %s\n", id, dir), rc = CORM_OK;
        } else if (strcmp(cmd, "revision") == 0) {
            rc = corm_migrate_revision(e, dir, message, "", "", id, sizeof id);
            if (rc == CORM_OK)
                printf("wrote revision %s in %s\n", id, dir);
        } else if (strcmp(cmd, "upgrade") == 0) {
            rc = corm_migrate_upgrade(e, dir, arg ? arg : "head", sql ? stdout : NULL);
        } else if (strcmp(cmd, "downgrade") == 0) {
            rc = corm_migrate_downgrade(e, dir, arg ? arg : "-1", sql ? stdout : NULL);
        } else if (strcmp(cmd, "current") == 0) {
            rc = corm_migrate_current(e, dir, stdout);
        } else if (strcmp(cmd, "history") == 0 || strcmp(cmd, "heads") == 0) {
            rc = corm_migrate_history(e, dir, stdout, cmd[0] == 'h' && cmd[1] == 'e');
        } else if (strcmp(cmd, "show") == 0) {
            rc = corm_migrate_show(e, dir, arg, stdout);
        } else if (strcmp(cmd, "stamp") == 0) {
            rc = corm_migrate_stamp(e, dir, arg);
        } else if (strcmp(cmd, "merge") == 0) {
            rc = corm_migrate_merge(e, dir, message, id, sizeof id);
            if (rc == CORM_OK)
                printf("wrote merge revision %s in %s\n", id, dir);
        } else if (strcmp(cmd, "inspect") == 0) {
            FILE *out = output ? fopen(output, "w") : stdout;
            if (!out) {
                fprintf(stderr, "%s db inspect: cannot write %s\n", prog, output);
                corm_engine_close(e);
                return 1;
            }
            rc = corm_inspect(e, out, stderr);
            if (output && fclose(out) != 0 && rc >= 0) {
                fprintf(stderr, "%s db inspect: cannot write %s\n", prog, output);
                corm_engine_close(e);
                return 1;
            }
            if (rc >= 0 && output)
                fprintf(stderr, "wrote %d model%s to %s\n", rc, rc == 1 ? "" : "s", output);
        } else if (strcmp(cmd, "check") == 0) {
            corm_schema_diff *d = NULL;
            rc = corm_check_schema(e, &d);
            for (size_t k = 0; k < corm_schema_diff_count(d); k++)
                printf("%s\n", corm_schema_diff_line(d, k));
            if (rc == 0)
                printf("the models match the database\n");
            corm_schema_diff_free(d);
            if (rc > 0) {
                corm_engine_close(e);
                return 1;
            }
        }
    }
    if (rc < 0)
        fprintf(stderr, "%s db %s: %s (%s)\n", prog, cmd, corm_engine_errmsg(e), corm_err_name(rc));
    corm_engine_close(e);
    return rc < 0 ? 1 : 0;
}
