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
 * from --dir (default "migrations").
 */
#include "corm/corm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s db COMMAND [options]\n"
            "  init                       create the migrations folder and the version table\n"
            "  migrate -m MESSAGE         write a revision from the models' changes\n"
            "  revision -m MESSAGE        write an empty revision to fill in by hand\n"
            "  upgrade [REV|head|+N]      apply revisions (--sql: print the SQL instead)\n"
            "  downgrade [REV|base|-N]    undo revisions (--sql: print the SQL instead)\n"
            "  current | history | heads  where the database is; the revisions\n"
            "  show REV | stamp REV       one revision; record REV without running it\n"
            "  merge [-m MESSAGE]         join two heads\n"
            "  check                      compare the models with the database (exit 1 if they differ)\n"
            "options: --url URL (or DATABASE_URL), --dir DIR (default migrations)\n",
            prog);
    return 2;
}

int corm_cli_main(int argc, char **argv, const corm_model *const *models)
{
    const char *prog = argc > 0 ? argv[0] : "app", *url = getenv("DATABASE_URL");
    const char *dir = "migrations", *message = NULL, *cmd = NULL, *arg = NULL;
    bool sql = false;
    int i = 1;
    if (i < argc && strcmp(argv[i], "db") == 0)
        i++;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
            url = argv[++i];
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if ((strcmp(argv[i], "-m") == 0 || strcmp(argv[i], "--message") == 0) && i + 1 < argc)
            message = argv[++i];
        else if (strcmp(argv[i], "--sql") == 0)
            sql = true;
        else if (!cmd)
            cmd = argv[i];
        else if (!arg)
            arg = argv[i];
        else
            return usage(prog);
    }
    if (!cmd)
        return usage(prog);
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
        } else if (strcmp(cmd, "show") == 0 && arg) {
            rc = corm_migrate_show(e, dir, arg, stdout);
        } else if (strcmp(cmd, "stamp") == 0 && arg) {
            rc = corm_migrate_stamp(e, dir, arg);
        } else if (strcmp(cmd, "merge") == 0) {
            rc = corm_migrate_merge(e, dir, message, id, sizeof id);
            if (rc == CORM_OK)
                printf("wrote merge revision %s in %s\n", id, dir);
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
        } else {
            corm_engine_close(e);
            return usage(prog);
        }
    }
    if (rc < 0)
        fprintf(stderr, "%s db %s: %s (%s)\n", prog, cmd, corm_engine_errmsg(e), corm_err_name(rc));
    corm_engine_close(e);
    return rc < 0 ? 1 : 0;
}
